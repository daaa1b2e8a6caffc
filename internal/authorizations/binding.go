package authorizations

import (
	"fmt"
	"slices"
	"strings"

	"github.com/brazesync/brazesync/internal/fault"
)

// Secrets are bound to the destination they were given for. A type's
// Destination names where its secrets are sent; changing it (or changing or
// removing the PinKey) clears the BoundSecrets that the same request does
// not supply again, so a stored password or API key never follows a
// changed host. The destination and the pin are also sealed into every
// secret's additional data: a secret whose record was moved to another
// destination behind the API's back does not open.

// DestinationError is a destination the egress policy refuses. Field names
// the config key ("config.host").
type DestinationError struct {
	Field string
	Err   error
}

func (e *DestinationError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the egress error.
func (e *DestinationError) Unwrap() error { return e.Err }

// destination returns a's destination and pin under its type ("" for a
// type without a customer-supplied destination).
func (t Type) destination(a *Authorization) (dest, pin string) {
	if t.Destination != nil {
		dest = t.Destination(a)
	}
	if t.PinKey != "" {
		pin, _ = ConfigString(a.Config, t.PinKey)
		pin = strings.TrimSpace(pin)
	}
	return dest, pin
}

// moved reports whether going from before to after changes where the
// secrets go: another destination, or a pin changed or removed. Setting a
// pin where there was none only narrows where the secrets may go.
func (t Type) moved(before, after *Authorization) bool {
	d0, p0 := t.destination(before)
	d1, p1 := t.destination(after)
	return d0 != d1 || (p0 != "" && p0 != p1)
}

// unbind removes from plain the bound secrets that given does not supply
// again, and returns their names.
func (t Type) unbind(plain, given map[string]string) []string {
	var cleared []string
	for _, name := range t.BoundSecrets {
		if _, again := given[name]; again {
			continue
		}
		if _, set := plain[name]; set {
			delete(plain, name)
			cleared = append(cleared, name)
		}
	}
	return cleared
}

// explainCleared adds to a validation error about a secret that the
// secrets it names were cleared by the destination change.
func explainCleared(err error, cleared []string, changed []string) error {
	ve, ok := err.(*fault.ValidationError)
	if !ok || len(cleared) == 0 || !strings.HasPrefix(ve.Field, "secrets.") {
		return err
	}
	return &fault.ValidationError{Field: ve.Field, Message: fmt.Sprintf("%s (changing %s cleared the stored %s, which belong to the old destination: send them again in the same request)",
		ve.Message, strings.Join(changed, ", "), strings.Join(cleared, ", "))}
}

// changedKeys lists the type's destination keys whose values differ
// between before and after, as "config.<key>".
func (t Type) changedKeys(before, after map[string]any) []string {
	var out []string
	for _, k := range append(slices.Clone(t.DestinationKeys), t.PinKey) {
		if k != "" && fmt.Sprint(before[k]) != fmt.Sprint(after[k]) {
			out = append(out, "config."+k)
		}
	}
	if len(out) == 0 {
		out = []string{"the destination"}
	}
	return out
}

// sealPurpose is the additional data a secret is sealed with: the account,
// the authorization, the secret's name, and, when bound, the destination
// and pin.
func sealPurpose(account, id, name string, bound bool, dest, pin string) string {
	legacy := account + "/authorizations/" + id + "/" + name
	if !bound {
		return legacy // sealed before secrets were bound to their destination
	}
	return legacy + "\x00" + dest + "\x00" + pin
}
