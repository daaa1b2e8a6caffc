package profiles

import (
	"errors"
	"fmt"
	"strings"

	"github.com/brazesync/brazesync/internal/fault"
)

// FieldType is the type a mapped field is converted to.
type FieldType string

// The field types a mapping can name.
const (
	TypeString    FieldType = "string"
	TypeNumber    FieldType = "number"
	TypeBoolean   FieldType = "boolean"
	TypeDate      FieldType = "date"
	TypeTimestamp FieldType = "timestamp"
)

func (t FieldType) valid() bool {
	switch t {
	case TypeString, TypeNumber, TypeBoolean, TypeDate, TypeTimestamp:
		return true
	}
	return false
}

// FieldMapping maps one source field of a stream to a profile field.
type FieldMapping struct {
	// Source is the field name in incoming records. It is matched
	// case-insensitively, with spaces and dashes read as underscores, so that
	// "Appboy ID" and "appboy_id" are the same source.
	Source string `json:"source"`
	// Field is the profile field the value is stored under.
	Field string `json:"field"`
	// Type is the type the value is converted to; empty means string.
	Type FieldType `json:"type,omitempty"`
	// Identity makes the field an identity: profiles are found and merged by
	// its values.
	Identity bool `json:"identity,omitempty"`
}

// Mapping tells how records of one stream become profile fields. Fields that
// no FieldMapping names are kept under their own names with the type their
// JSON value has (strings for form and CSV input).
type Mapping struct {
	Stream string         `json:"stream"`
	Fields []FieldMapping `json:"fields"`
	// TimestampField names the source field that holds a record's event time.
	// Records without it (or when it is empty) use the time the record
	// arrived.
	TimestampField string `json:"timestamp_field,omitempty"`
	// Builtin is true when the mapping is the built-in default, not one that
	// was stored for the account.
	Builtin bool `json:"builtin"`
}

// Limits on mappings, checked by Validate.
const (
	MaxMappingFields = 500
	MaxFieldNameLen  = 256
)

// ErrInvalidMapping is wrapped by every error of Mapping.Validate.
var ErrInvalidMapping = errors.New("invalid mapping")

// invalid is a *fault.ValidationError naming the mapping field that is
// wrong; errors.Is(err, ErrInvalidMapping) holds for it too.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalidMapping, fault.Invalidf(field, format, args...))
}

// Validate checks a mapping and names the first problem it finds.
func (m *Mapping) Validate() error {
	if len(m.Fields) > MaxMappingFields {
		return invalid("fields", "%d entries, at most %d", len(m.Fields), MaxMappingFields)
	}
	seen := make(map[string]bool, len(m.Fields))
	identities := 0
	for i, f := range m.Fields {
		src := normalizeSource(f.Source)
		at := func(name string) string { return fmt.Sprintf("fields[%d].%s", i, name) }
		switch {
		case src == "":
			return invalid(at("source"), "is empty")
		case strings.TrimSpace(f.Field) == "":
			return invalid(at("field"), "is empty")
		case len(f.Source) > MaxFieldNameLen:
			return invalid(at("source"), "is longer than %d bytes", MaxFieldNameLen)
		case len(f.Field) > MaxFieldNameLen:
			return invalid(at("field"), "is longer than %d bytes", MaxFieldNameLen)
		case f.Type != "" && !f.Type.valid():
			return invalid(at("type"), "%q: want string, number, boolean, date or timestamp", f.Type)
		case f.Identity && f.Type != "" && f.Type != TypeString:
			return invalid(at("type"), "an identity must have type string")
		case f.Identity && strings.ContainsAny(f.Field, ":\n\r"):
			return invalid(at("field"), "an identity field name cannot contain ':' or a line break")
		case seen[src]:
			return invalid(at("source"), "%q is mapped twice", f.Source)
		}
		seen[src] = true
		if f.Identity {
			identities++
		}
	}
	if identities == 0 {
		return invalid("fields", "no field is an identity; records could never be matched to a profile")
	}
	if len(m.TimestampField) > MaxFieldNameLen {
		return invalid("timestamp_field", "is longer than %d bytes", MaxFieldNameLen)
	}
	return nil
}

// normalizeSource folds a source field name for matching: lower case, spaces
// and dashes as underscores, outer space trimmed.
func normalizeSource(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, s)
}

// BrazeUsersStream is the stream Braze webhooks post to.
const BrazeUsersStream = "braze_users"

// BrazeUsersMapping returns the built-in mapping of the braze_users stream.
//
// It follows Lytics' default braze_users mapping, with one decision of ours:
// Braze's braze_id is stored as the profile field "braze_id" (Lytics uses
// br_user_id) because "braze_id" is the default identifier field of the
// audience export. It also maps the columns of Braze's segment CSV export
// ("Appboy ID"/"Braze ID", user_id as the external id, ...), so a CSV import
// into braze_users needs no mapping of its own.
func BrazeUsersMapping() Mapping {
	id := func(src, field string) FieldMapping {
		return FieldMapping{Source: src, Field: field, Type: TypeString, Identity: true}
	}
	typed := func(src, field string, t FieldType) FieldMapping {
		return FieldMapping{Source: src, Field: field, Type: t}
	}
	str := func(src string) FieldMapping { return typed(src, src, TypeString) }
	return Mapping{
		Stream:  BrazeUsersStream,
		Builtin: true,
		Fields: []FieldMapping{
			// Identities.
			id("braze_id", "braze_id"),
			id("appboy_id", "braze_id"), // CSV export "Appboy ID"
			id("external_id", "external_id"),
			id("user_id", "external_id"), // CSV export and Liquid ${user_id}
			id("email", "email"),
			id("email_address", "email"), // Liquid ${email_address}
			id("twitter_handle", "tw_uid"),
			// Webhook sample body.
			typed("phone_number", "phone", TypeString),
			typed("phone", "phone", TypeString),
			typed("date_of_birth", "birth_date", TypeDate),
			str("first_name"), str("last_name"), str("gender"), str("language"),
			str("city"), str("country"), str("time_zone"),
			typed("timezone", "time_zone", TypeString), // CSV export spelling
			// Segment CSV export.
			typed("created_at", "created_at", TypeTimestamp),
			str("created_from"),
			typed("first_session", "first_session", TypeTimestamp),
			typed("last_session", "last_session", TypeTimestamp),
			typed("session_count", "session_count", TypeNumber),
			str("last_app_version_used"),
			typed("random_bucket", "random_bucket", TypeNumber),
			typed("in_app_purchase_total", "in_app_purchase_total", TypeNumber),
			str("devices"), str("user_aliases"),
			typed("unsubscribed_from_emails_at", "unsubscribed_from_emails_at", TypeTimestamp),
			typed("opted_in_to_emails_at", "opted_in_to_emails_at", TypeTimestamp),
			typed("opted_into_push_at", "opted_into_push_at", TypeTimestamp),
			typed("unsubscribed_from_push_at", "unsubscribed_from_push_at", TypeTimestamp),
		},
	}
}

// DefaultMapping returns the mapping of a stream that has none stored and no
// built-in one: email, external_id (also from user_id) and braze_id are
// identities; every other field is kept as it comes.
func DefaultMapping(stream string) Mapping {
	return Mapping{
		Stream:  stream,
		Builtin: true,
		Fields: []FieldMapping{
			{Source: "email", Field: "email", Type: TypeString, Identity: true},
			{Source: "external_id", Field: "external_id", Type: TypeString, Identity: true},
			{Source: "user_id", Field: "external_id", Type: TypeString, Identity: true},
			{Source: "braze_id", Field: "braze_id", Type: TypeString, Identity: true},
		},
	}
}

// builtinMapping returns the mapping a stream has while none is stored.
func builtinMapping(stream string) Mapping {
	if stream == BrazeUsersStream {
		return BrazeUsersMapping()
	}
	return DefaultMapping(stream)
}
