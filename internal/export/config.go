package export

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/fault"
)

// Defaults of an Export Audience job.
const (
	IdentifierFieldDefault = "braze_id"
	FlushUsersDefault      = 75
	FlushIntervalDefault   = 5 * time.Minute
	// AttributePrefixDefault prefixes the audience slug in the name of a
	// boolean-mode attribute: "lytics_" + "vip" is "lytics_vip".
	AttributePrefixDefault = "lytics_"
)

// AttributeMode is how a job writes membership into Braze.
type AttributeMode string

// The attribute modes.
const (
	// ModeArray (the default) keeps the slugs of the user's audiences in
	// one array attribute (Config.Attribute), with {"add", "remove"}.
	ModeArray AttributeMode = "array"
	// ModeBoolean writes one boolean attribute per audience, named
	// Config.AttributePrefix + slug: true while the user is a member,
	// false once the user left it.
	ModeBoolean AttributeMode = "boolean"
)

// Config is an Export Audience job's config (the job's "config" object).
type Config struct {
	// Audiences are the slugs exported (at least one).
	Audiences []string
	// IdentifierField is the profile field (or identity) that holds the
	// Braze identifier. Default "braze_id".
	IdentifierField string
	// IdentifierKind is how it is sent: external_id (default), braze_id,
	// email, phone or user_alias (with AliasLabel).
	IdentifierKind braze.IdentifierKind
	AliasLabel     string
	// Attribute is the array attribute. Default "lytics_segments".
	Attribute string
	// Mode is how membership is written. Default ModeArray.
	Mode AttributeMode
	// AttributePrefix prefixes the slug in the name of each boolean
	// attribute (ModeBoolean). Default AttributePrefixDefault.
	AttributePrefix string
	// UpdateExistingOnly sends every object with Braze's
	// "_update_existing_only": true, so that the job never creates a
	// Braze user.
	UpdateExistingOnly bool
	// ExistingUsers backfills current members when the job starts.
	ExistingUsers bool
	// FlushUsers and FlushInterval: without a schedule, waiting users are
	// sent when this many wait or the oldest has waited this long.
	FlushUsers    int
	FlushInterval time.Duration
}

var (
	attrPattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,254}$`)
	prefixPattern = regexp.MustCompile(`^([A-Za-z0-9_][A-Za-z0-9_ .-]{0,127})?$`)
)

// BooleanAttribute is the name of the boolean attribute of audience slug
// (ModeBoolean): AttributePrefix + slug.
func (c Config) BooleanAttribute(slug string) string { return c.AttributePrefix + slug }

// ParseConfig reads and validates a job config.
func ParseConfig(m map[string]any) (Config, error) {
	c := Config{IdentifierField: IdentifierFieldDefault, IdentifierKind: braze.ExternalID, Attribute: braze.AttributeDefault,
		Mode: ModeArray, AttributePrefix: AttributePrefixDefault, FlushUsers: FlushUsersDefault, FlushInterval: FlushIntervalDefault}
	known := []string{"audiences", "identifier_field", "identifier_kind", "alias_label", "attribute", "attribute_mode", "attribute_prefix", "update_existing_only", "existing_users", "flush_users", "flush_interval_seconds"}
	for k := range m {
		if !slices.Contains(known, k) {
			return c, &fault.ValidationError{Field: "config." + k, Message: fmt.Sprintf("is not a setting of braze_export_audience jobs (settings: %v)", known)}
		}
	}
	raw, isList := m["audiences"].([]any)
	switch given, ok := m["audiences"]; {
	case !ok || given == nil:
		return c, &fault.ValidationError{Field: "config.audiences", Message: "is required: a list of at least one audience slug"}
	case !isList:
		return c, &fault.ValidationError{Field: "config.audiences", Message: fmt.Sprintf(`must be a list of audience slugs, such as ["lytics_all"], not %s`, jsonKind(given))}
	case len(raw) == 0:
		return c, &fault.ValidationError{Field: "config.audiences", Message: "must name at least one audience slug"}
	}
	for i, v := range raw {
		s, ok := v.(string)
		if !ok || s == "" {
			return c, &fault.ValidationError{Field: fmt.Sprintf("config.audiences[%d]", i), Message: "must be an audience slug"}
		}
		if !slices.Contains(c.Audiences, s) {
			c.Audiences = append(c.Audiences, s)
		}
	}
	if v, ok := m["identifier_field"]; ok {
		s, isStr := v.(string)
		if !isStr || s == "" {
			return c, &fault.ValidationError{Field: "config.identifier_field", Message: "must be a profile field name"}
		}
		c.IdentifierField = s
	}
	if v, ok := m["identifier_kind"]; ok {
		s, _ := v.(string)
		k, err := braze.ParseIdentifierKind(s)
		if err != nil {
			return c, &fault.ValidationError{Field: "config.identifier_kind", Message: err.Error()}
		}
		c.IdentifierKind = k
	}
	if v, ok := m["alias_label"]; ok {
		s, _ := v.(string)
		c.AliasLabel = s
	}
	if c.IdentifierKind == braze.UserAlias && c.AliasLabel == "" {
		return c, &fault.ValidationError{Field: "config.alias_label", Message: "is required when identifier_kind is user_alias"}
	}
	if v, ok := m["attribute"]; ok {
		s, _ := v.(string)
		if !attrPattern.MatchString(s) {
			return c, &fault.ValidationError{Field: "config.attribute", Message: "must be a Braze custom attribute name (letters, digits, _ . - and spaces, at most 255)"}
		}
		c.Attribute = s
	}
	if v, ok := m["attribute_mode"]; ok {
		s, _ := v.(string)
		switch AttributeMode(s) {
		case ModeArray, ModeBoolean:
			c.Mode = AttributeMode(s)
		default:
			return c, &fault.ValidationError{Field: "config.attribute_mode", Message: `must be "array" (one array attribute of audience slugs) or "boolean" (one true/false attribute per audience)`}
		}
	}
	if v, ok := m["attribute_prefix"]; ok {
		s, isStr := v.(string)
		if !isStr || !prefixPattern.MatchString(s) {
			return c, &fault.ValidationError{Field: "config.attribute_prefix", Message: "must be the start of a Braze custom attribute name (letters, digits, _ . - and spaces, at most 128), or empty"}
		}
		c.AttributePrefix = s
	}
	if c.Mode == ModeBoolean {
		for i, slug := range c.Audiences {
			name := c.BooleanAttribute(slug)
			if !attrPattern.MatchString(name) || name == c.Attribute {
				return c, &fault.ValidationError{Field: fmt.Sprintf("config.audiences[%d]", i), Message: fmt.Sprintf("makes the boolean attribute %q, which is not a Braze custom attribute name distinct from config.attribute", name)}
			}
		}
	}
	if v, ok := m["update_existing_only"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return c, &fault.ValidationError{Field: "config.update_existing_only", Message: "must be true or false"}
		}
		c.UpdateExistingOnly = b
	}
	if v, ok := m["existing_users"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return c, &fault.ValidationError{Field: "config.existing_users", Message: "must be true or false"}
		}
		c.ExistingUsers = b
	}
	if v, ok := m["flush_users"]; ok {
		f, isNum := v.(float64)
		if !isNum || f < 1 || f > 100000 || f != float64(int(f)) {
			return c, &fault.ValidationError{Field: "config.flush_users", Message: "must be a whole number from 1 to 100000"}
		}
		c.FlushUsers = int(f)
	}
	if v, ok := m["flush_interval_seconds"]; ok {
		f, isNum := v.(float64)
		if !isNum || f < 0 || f > 86400 {
			return c, &fault.ValidationError{Field: "config.flush_interval_seconds", Message: "must be a number of seconds from 0 to 86400"}
		}
		c.FlushInterval = time.Duration(f * float64(time.Second))
	}
	return c, nil
}

// jsonKind says what kind of JSON value a decoded config value is.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "true or false"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return "a number"
}
