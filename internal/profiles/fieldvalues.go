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

// fieldScript extracts one field of each profile server-side, so that a
// bulk read (an export preview of a whole audience) moves a few bytes per
// profile instead of the whole stored profile.
//
// KEYS are profile keys. ARGV[1] is "\n<field>:" (the identity lines of
// the stored form), ARGV[2] the field's JSON key as appendJSONKey writes it
// (`"<field>":"`). For each key it returns false when there is no profile,
// else an array: the field's stored value still JSON-escaped ("" when
// absent), then its identity values.
var fieldScript = redis.NewScript(`
local out = {}
local idneedle, datakey = ARGV[1], ARGV[2]
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if not v then
    out[i] = false
  else
    local r = {''}
    local hend = string.find(v, '\n\n', 1, true) or #v
    local head = string.sub(v, 1, hend)
    local p = 1
    while true do
      local s, e = string.find(head, idneedle, p, true)
      if not s then break end
      local nl = string.find(head, '\n', e + 1, true) or (#head + 1)
      r[#r + 1] = string.sub(head, e + 1, nl - 1)
      p = nl
    end
    local s, e = string.find(v, datakey, hend, true)
    if s then
      local q = e + 1
      while true do
        local c = string.find(v, '["\\]', q)
        if not c then q = #v + 1 break end
        if string.sub(v, c, c) == '"' then q = c break end
        q = c + 2
      end
      r[1] = string.sub(v, e + 1, q - 1)
    end
    out[i] = r
  end
end
return out`)

// FieldValues reads one field of each profile in ids, in their order, in
// one round trip whose reply holds that field only. Like GetMany it does
// not follow merges.
func (s *Store) FieldValues(ctx context.Context, account string, ids []string, field string) ([]FieldValue, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.keys.profile(account, id)
	}
	res, err := fieldScript.Run(ctx, s.rdb, keys, "\n"+field+":", string(appendJSONKey(nil, field))).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading field %q of %d profiles of account %q: %w", field, len(ids), account, err)
	}
	if len(res) != len(ids) {
		return nil, fmt.Errorf("reading field %q of %d profiles of account %q: %d answers", field, len(ids), account, len(res))
	}
	out := make([]FieldValue, len(ids))
	for i, r := range res {
		parts, ok := r.([]any)
		if !ok || len(parts) == 0 {
			continue // no profile
		}
		fv := FieldValue{Exists: true}
		if raw, _ := parts[0].(string); raw != "" {
			fv.Value = storedFieldValue(raw)
		}
		for _, p := range parts[1:] {
			if v, ok := p.(string); ok && !containsString(fv.Identities, v) {
				fv.Identities = append(fv.Identities, v)
			}
		}
		sort.Strings(fv.Identities)
		out[i] = fv
	}
	return out, nil
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
