package braze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// AttributeDefault is the array custom attribute that holds audience
// membership unless a job names another.
const AttributeDefault = "lytics_segments"

// IdentifierKind is the Braze field that identifies a user in an object.
type IdentifierKind string

// The identifier kinds /users/track accepts.
const (
	ExternalID IdentifierKind = "external_id"
	BrazeID    IdentifierKind = "braze_id"
	Email      IdentifierKind = "email"
	Phone      IdentifierKind = "phone"
	UserAlias  IdentifierKind = "user_alias"
)

// IdentifierKinds lists every kind, in the order Braze documents them.
var IdentifierKinds = []IdentifierKind{ExternalID, BrazeID, UserAlias, Email, Phone}

// ParseIdentifierKind reads a kind name such as "external_id" (case and
// surrounding space ignored; "alias" is accepted for user_alias).
func ParseIdentifierKind(s string) (IdentifierKind, error) {
	k := IdentifierKind(strings.ToLower(strings.TrimSpace(s)))
	if k == "alias" {
		k = UserAlias
	}
	if slices.Contains(IdentifierKinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("unknown Braze identifier kind %q: valid kinds are external_id, braze_id, user_alias, email, phone", s)
}

// Identifier names one Braze user. For UserAlias, Value is the alias_name
// and AliasLabel the alias_label.
type Identifier struct {
	Kind       IdentifierKind
	Value      string
	AliasLabel string
}

// String is a readable form for logs, e.g. "external_id=u1" or
// "user_alias=lytics:n1".
func (id Identifier) String() string {
	if id.Kind == UserAlias {
		return string(id.Kind) + "=" + id.AliasLabel + ":" + id.Value
	}
	return string(id.Kind) + "=" + id.Value
}

// Validate reports an unknown kind or an empty value.
func (id Identifier) Validate() error {
	if !slices.Contains(IdentifierKinds, id.Kind) {
		return fmt.Errorf("unknown Braze identifier kind %q", id.Kind)
	}
	if id.Value == "" {
		return fmt.Errorf("empty %s", id.Kind)
	}
	if id.Kind == UserAlias && id.AliasLabel == "" {
		return fmt.Errorf("user_alias %q has no alias_label", id.Value)
	}
	return nil
}

// Object is one attributes object of /users/track: a user, the change to an
// array attribute ({"add": [...], "remove": [...]}), and optionally other
// attributes (a nil value is JSON null: Braze removes the attribute).
// Unless UpdateExistingOnly, an unknown external_id creates a user.
type Object struct {
	ID Identifier
	// Attribute is the array attribute's name; empty means AttributeDefault.
	Attribute string
	// Add and Remove are the values added to and removed from the array.
	// When both are empty the array attribute is not sent.
	Add, Remove []string
	// Fields are other attributes to set (optional). They must not repeat
	// the identifier or the array attribute.
	Fields map[string]any
	// UpdateExistingOnly sends "_update_existing_only": true: Braze
	// updates the user if it exists and creates none (it still answers
	// success, and leaves the object out of attributes_processed).
	UpdateExistingOnly bool
}

// Segments returns an Object that adds and removes audience slugs in the
// array attribute attr (AttributeDefault when empty).
func Segments(id Identifier, attr string, add, remove []string) Object {
	return Object{ID: id, Attribute: attr, Add: add, Remove: remove}
}

func (o Object) attribute() string {
	if o.Attribute == "" {
		return AttributeDefault
	}
	return o.Attribute
}

// Validate reports an invalid identifier or a field that clashes with the
// identifier or the array attribute.
func (o Object) Validate() error {
	if err := o.ID.Validate(); err != nil {
		return err
	}
	for k := range o.Fields {
		if k == string(o.ID.Kind) || k == o.attribute() || k == "_update_existing_only" {
			return fmt.Errorf("field %q of %s clashes with the identifier or the array attribute", k, o.ID)
		}
	}
	return nil
}

// MarshalJSON encodes the object as Braze reads it, e.g.
// {"external_id":"u1","lytics_segments":{"add":["a"],"remove":["b"]}}.
func (o Object) MarshalJSON() ([]byte, error) {
	return o.appendJSON(nil)
}

func (o Object) appendJSON(b []byte) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	b = append(b, '{')
	b = appendString(b, string(o.ID.Kind))
	b = append(b, ':')
	if o.ID.Kind == UserAlias {
		b = append(b, `{"alias_name":`...)
		b = appendString(b, o.ID.Value)
		b = append(b, `,"alias_label":`...)
		b = appendString(b, o.ID.AliasLabel)
		b = append(b, '}')
	} else {
		b = appendString(b, o.ID.Value)
	}
	if len(o.Add) > 0 || len(o.Remove) > 0 {
		b = append(b, ',')
		b = appendString(b, o.attribute())
		b = append(b, ":{"...)
		sep := false
		for _, part := range []struct {
			name string
			vals []string
		}{{"add", o.Add}, {"remove", o.Remove}} {
			if len(part.vals) == 0 {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = appendString(b, part.name)
			b = append(b, ":["...)
			for i, v := range part.vals {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	keys := make([]string, 0, len(o.Fields))
	for k := range o.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := json.Marshal(o.Fields[k])
		if err != nil {
			return nil, fmt.Errorf("encoding field %q of %s: %w", k, o.ID, err)
		}
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	if o.UpdateExistingOnly {
		b = append(b, `,"_update_existing_only":true`...)
	}
	return append(b, '}'), nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			simple = false
			break
		}
	}
	if simple {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, bytes.TrimSpace(q)...)
}
