// Package queryparam reads the query parameters of brazesync's HTTP
// endpoints (the API and the collect endpoint) one way: a value the
// parameter does not take is a *fault.ValidationError naming the
// parameter, never a silent default.
package queryparam

import (
	"net/url"
	"strconv"

	"github.com/brazesync/brazesync/internal/fault"
)

// Bool reads the boolean parameter name of q: false when it is absent; true
// for true, True, TRUE, t, T or 1; false for false, False, FALSE, f, F or 0.
// Anything else, an empty value (?dryrun with no value) included, or
// values that disagree when it is given more than once, is a
// *fault.ValidationError on field name.
func Bool(q url.Values, name string) (bool, error) {
	vs, ok := q[name]
	if !ok {
		return false, nil
	}
	var out bool
	for i, v := range vs {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fault.Invalidf(name, "must be true or false (or 1 or 0), not %s", strconv.Quote(shorten(v)))
		}
		if i > 0 && b != out {
			return false, fault.Invalid(name, "is given more than once with different values")
		}
		out = b
	}
	return out, nil
}

// shorten bounds what an error echoes of a value.
func shorten(s string) string {
	const max = 40
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "…"
}
