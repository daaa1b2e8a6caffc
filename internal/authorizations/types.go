package authorizations

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/brazesync/brazesync/internal/fault"
)

// Type describes one kind of authorization: which config keys and secrets it
// takes and how they are validated. Adding a kind is adding a Type.
type Type struct {
	// Name is the API type name, e.g. "braze".
	Name string
	// Config lists the allowed config keys.
	Config []string
	// Secrets lists the allowed secret names.
	Secrets []string
	// Immutable lists config keys fixed when the authorization is created
	// (by Provision, say): an update may repeat their value but not change
	// or remove it.
	Immutable []string
	// Validate checks a complete authorization (after an update is merged).
	// It returns a *fault.ValidationError naming the field.
	Validate func(a *Authorization, secrets map[string]string) error
	// Provision, when set, runs after a new authorization is validated and
	// before it is stored: it may fill config and secrets (the managed SFTP
	// server creates its user here) and returns values to show once.
	Provision func(ctx context.Context, a *Authorization, secrets map[string]string) (shown map[string]any, err error)
	// Deprovision, when set, runs when the authorization is deleted, and
	// when a provisioned one could not be stored.
	Deprovision func(ctx context.Context, a *Authorization) error

	// Destination, when set, returns where the BoundSecrets are sent, in a
	// canonical form (e.g. `sftp "acme" "sftp.example.com" 22`). It is
	// sealed into the secrets' additional data, so it must stay stable
	// across versions. Nil for types whose destination no customer
	// chooses.
	Destination func(a *Authorization) string
	// DestinationKeys are the config keys Destination is made of, named
	// when a change clears secrets.
	DestinationKeys []string
	// PinKey is a config key that pins the destination's identity (SFTP's
	// host_key). Setting it where it was empty keeps the secrets, because
	// it only narrows where they may go; changing or removing it clears
	// them, as a destination change does.
	PinKey string
	// BoundSecrets are the secrets sent to the destination: a destination
	// or pin change clears those the same request does not supply again.
	BoundSecrets []string
}

// Registry holds the known types.
type Registry struct {
	types map[string]Type
}

// NewRegistry returns a registry of types.
func NewRegistry(types ...Type) *Registry {
	r := &Registry{types: map[string]Type{}}
	for _, t := range types {
		r.types[t.Name] = t
	}
	return r
}

// Add registers one more type.
func (r *Registry) Add(t Type) { r.types[t.Name] = t }

// Lookup returns the type called name.
func (r *Registry) Lookup(name string) (Type, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Names returns the registered type names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.types))
	for n := range r.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// checkImmutable refuses an update of config that changes an immutable key
// of before.
func (t Type) checkImmutable(before, update map[string]any) error {
	for _, k := range t.Immutable {
		v, given := update[k]
		if given && !reflect.DeepEqual(v, before[k]) {
			return &fault.ValidationError{Field: "config." + k, Message: fmt.Sprintf("is set when a %s authorization is created and cannot be changed; create a new authorization instead", t.Name)}
		}
	}
	return nil
}

func (t Type) checkKeys(a *Authorization, secrets map[string]string) error {
	for k := range a.Config {
		if !slices.Contains(t.Config, k) {
			return &fault.ValidationError{Field: "config." + k, Message: fmt.Sprintf("is not a setting of %s authorizations (settings: %s)", t.Name, strings.Join(t.Config, ", "))}
		}
	}
	for k := range secrets {
		if !slices.Contains(t.Secrets, k) {
			return &fault.ValidationError{Field: "secrets." + k, Message: fmt.Sprintf("is not a secret of %s authorizations (secrets: %s)", t.Name, strings.Join(t.Secrets, ", "))}
		}
	}
	return nil
}

// ConfigString returns config[key] as a string ("" when absent).
func ConfigString(cfg map[string]any, key string) (string, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", &fault.ValidationError{Field: "config." + key, Message: "must be a string"}
	}
	return s, nil
}

// ConfigInt returns config[key] as an int (def when absent).
func ConfigInt(cfg map[string]any, key string, def, lo, hi int) (int, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok {
		if i, isInt := v.(int); isInt {
			f, ok = float64(i), true
		}
	}
	if !ok || f != float64(int(f)) || int(f) < lo || int(f) > hi {
		return 0, &fault.ValidationError{Field: "config." + key, Message: fmt.Sprintf("must be a whole number from %d to %d", lo, hi)}
	}
	return int(f), nil
}
