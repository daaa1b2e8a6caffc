package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// FieldValue is what FieldValues read of one profile: the one field asked
// for, as Get would show it.
type FieldValue struct {
	// Exists is false when there is no profile with the id (never created,
	// deleted or merged away).
	Exists bool
	// Value is the field's typed value (as in Profile.Fields), nil when the
	// profile has none.
	Value any
	// Identities are the profile's values of the field as an identity
	// (as in Profile.Identities), sorted; nil when it has none.
	Identities []string
}

// Profile returns the profile as Get would show it, restricted to field:
// nil when it does not exist.
func (v FieldValue) Profile(id, field string) *Profile {
	if !v.Exists {
		return nil
	}
	p := &Profile{ID: id, Fields: map[string]any{}, Identities: map[string][]string{}}
	if v.Value != nil {
		p.Fields[field] = v.Value
	}
	if len(v.Identities) > 0 {
		p.Identities[field] = v.Identities
	}
	return p
}

// FieldValues reads one field of each profile in ids, in their order, in
// one round trip (MGET), and decodes that field only: a bulk reader (an
// export preview of a whole audience) spends a fraction of Redis' time a
// script that picked the field out would, and no time on the other fields.
// Like GetMany it does not follow merges.
func (s *Store) FieldValues(ctx context.Context, account string, ids []string, field string) ([]FieldValue, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.keys.profile(account, id)
	}
	res, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading field %q of %d profiles of account %q: %w", field, len(ids), account, err)
	}
	if len(res) != len(ids) {
		return nil, fmt.Errorf("reading field %q of %d profiles of account %q: %d answers", field, len(ids), account, len(res))
	}
	idPrefix := field + ":"
	dataKey := string(appendJSONKey(nil, field))
	out := make([]FieldValue, len(ids))
	for i, r := range res {
		v, ok := r.(string)
		if !ok {
			continue // no profile
		}
		out[i] = readStoredField(v, idPrefix, dataKey)
	}
	return out, nil
}

// readStoredField reads one field of a stored profile (see stored.go): its
// identity lines "<field>:<value>" and its member `"<field>":"<stored>"`
// of the data.
func readStoredField(v, idPrefix, dataKey string) FieldValue {
	// The stored form as decodeStored reads it, without splitting it.
	head, rest, found := strings.Cut(v, "\n")
	if !found || !strings.Contains(head, " ") {
		return FieldValue{}
	}
	var list, data string
	if strings.HasPrefix(rest, "\n") {
		data = rest[1:]
	} else if list, data, found = strings.Cut(rest, "\n\n"); !found {
		return FieldValue{}
	}
	fv := FieldValue{Exists: true}
	for list != "" {
		var line string
		line, list, _ = strings.Cut(list, "\n")
		if value, ok := strings.CutPrefix(line, idPrefix); ok && !containsString(fv.Identities, value) {
			fv.Identities = append(fv.Identities, value)
		}
	}
	if len(fv.Identities) > 1 {
		sort.Strings(fv.Identities)
	}
	if at := strings.Index(data, dataKey); at >= 0 {
		rest := data[at+len(dataKey):]
		end := 0
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		fv.Value = storedFieldValue(rest[:min(end, len(rest))])
	}
	return fv
}

// storedFieldValue decodes a stored value still JSON-escaped, as the data
// of a stored profile holds it; nil when it does not decode.
func storedFieldValue(raw string) any {
	var stored string
	if strings.IndexByte(raw, '\\') < 0 {
		stored = raw
	} else if err := json.Unmarshal([]byte(`"`+raw+`"`), &stored); err != nil {
		return nil
	}
	if strings.HasPrefix(stored, "|") {
		stored = "0" + stored // relative to the base time: the time is not wanted here
	}
	v, _, ok := decodeValue(stored)
	if !ok {
		return nil
	}
	return v
}

func containsString(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}
