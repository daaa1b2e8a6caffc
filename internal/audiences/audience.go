package audiences

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/textcheck"
)

// Kind says how an audience's members are decided.
type Kind string

const (
	// KindRule audiences hold the profiles that match their Rule.
	KindRule Kind = "rule"
	// KindList audiences hold the profiles added by API.
	KindList Kind = "list"
)

// Audience is the definition of an audience of one account.
type Audience struct {
	// Slug names the audience in its account: 1 to 64 characters of a-z,
	// 0-9, "_" and "-", starting with a letter or digit. Slugs starting with
	// "lytics_" are reserved for the built-in audiences.
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Kind        Kind   `json:"kind"`
	// Rule is the filter of a rule audience (see Rule), empty for a list.
	Rule json.RawMessage `json:"rule,omitempty"`
	// Builtin audiences are created by EnsureDefaults and cannot be changed.
	Builtin   bool      `json:"builtin,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Sentinel errors callers branch on. Validation errors are
// *fault.ValidationError (errors.Is fault.ErrInvalid).
var (
	ErrNotFound = errors.New("audience not found")
	ErrExists   = errors.New("audience already exists")
	ErrBuiltin  = errors.New("built-in audiences cannot be changed")
	ErrNotList  = errors.New("members can only be added to or removed from list audiences")
	ErrNotRule  = errors.New("only rule audiences are evaluated")
)

// Built-in audience slugs.
const (
	SlugAll   = "lytics_all"
	SlugKnown = "lytics_known"
	SlugNew   = "lytics_new"
)

// builtins are the audiences every account has.
var builtins = []Audience{
	{
		Slug: SlugAll, Name: "All profiles", Kind: KindRule, Builtin: true,
		Description: "Every profile of the account.",
		Rule:        json.RawMessage(`{"and":[]}`),
	},
	{
		Slug: SlugKnown, Name: "Known profiles", Kind: KindRule, Builtin: true,
		Description: "Profiles with an email address or an external identity (external_id, braze_id).",
		Rule: json.RawMessage(`{"or":[` +
			`{"field":"identities.email","op":"exists"},` +
			`{"field":"identities.external_id","op":"exists"},` +
			`{"field":"identities.braze_id","op":"exists"}]}`),
	},
	{
		Slug: SlugNew, Name: "New profiles", Kind: KindRule, Builtin: true,
		Description: "Profiles first seen within the last 7 days.",
		Rule:        json.RawMessage(`{"field":"first_seen","op":"within_last","days":7}`),
	},
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// validate checks a definition given by a user and returns its compiled
// rule. Errors are *fault.ValidationError.
func validate(a *Audience) (compiled, error) {
	if !slugRE.MatchString(a.Slug) {
		return compiled{}, &fault.ValidationError{Field: "slug", Message: fmt.Sprintf("%q: want 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit", a.Slug)}
	}
	if strings.HasPrefix(a.Slug, "lytics_") && !a.Builtin {
		return compiled{}, &fault.ValidationError{Field: "slug", Message: fmt.Sprintf("%q: the prefix lytics_ is reserved for built-in audiences", a.Slug)}
	}
	if strings.TrimSpace(a.Name) == "" {
		a.Name = a.Slug
	}
	if msg := textcheck.Label(a.Name); msg != "" {
		return compiled{}, &fault.ValidationError{Field: "name", Message: msg}
	}
	if msg := textcheck.Description(a.Description); msg != "" {
		return compiled{}, &fault.ValidationError{Field: "description", Message: msg}
	}
	switch a.Kind {
	case KindRule:
		r, err := ParseRule(a.Rule)
		if err != nil {
			return compiled{}, err
		}
		c, err := compileRule(r, "rule")
		if err != nil {
			return compiled{}, err
		}
		return c, nil
	case KindList:
		if len(a.Rule) != 0 && string(a.Rule) != "null" {
			return compiled{}, &fault.ValidationError{Field: "rule", Message: "a list audience has no rule"}
		}
		a.Rule = nil
		return compiled{}, nil
	case "":
		return compiled{}, &fault.ValidationError{Field: "kind", Message: fmt.Sprintf("missing, want %q or %q", KindRule, KindList)}
	}
	return compiled{}, &fault.ValidationError{Field: "kind", Message: fmt.Sprintf("%q: want %q or %q", a.Kind, KindRule, KindList)}
}
