package brazesim

import (
	"encoding/json"
	"strings"
)

// Fields of an attributes object that are not attributes.
const fieldUpdateExistingOnly = "_update_existing_only"

// identify finds the identifier of an object the way Braze does: one of
// external_id, braze_id or user_alias; without those, email, then phone
// (email and phone next to a primary identifier are plain attributes). It
// returns the identifier's field, its store key, or the error type.
func identify(obj map[string]any) (field, key, errType string) {
	primary := 0
	for _, f := range [...]string{KindExternalID, KindBrazeID, KindUserAlias} {
		if v, ok := obj[f]; ok && v != nil {
			primary++
			field = f
		}
	}
	if primary > 1 {
		return "", "", errManyIDs
	}
	switch field {
	case KindExternalID, KindBrazeID:
		v, ok := obj[field].(string)
		if !ok || v == "" {
			if field == KindExternalID {
				return "", "", errExternalID
			}
			return "", "", errBrazeID
		}
		return field, identityKey(field, v), ""
	case KindUserAlias:
		a, ok := obj[field].(map[string]any)
		if !ok {
			return "", "", errUserAlias
		}
		name, _ := a["alias_name"].(string)
		label, _ := a["alias_label"].(string)
		if name == "" || label == "" {
			return "", "", errUserAlias
		}
		return field, identityKey(field, label+":"+name), ""
	}
	if v, ok := obj[KindEmail]; ok && v != nil {
		e, ok := v.(string)
		at := strings.IndexByte(e, '@')
		if !ok || at < 1 || at == len(e)-1 {
			return "", "", errEmail
		}
		return KindEmail, identityKey(KindEmail, strings.ToLower(e)), ""
	}
	if v, ok := obj[KindPhone]; ok && v != nil {
		p, ok := v.(string)
		if !ok || p == "" {
			return "", "", errPhone
		}
		return KindPhone, identityKey(KindPhone, p), ""
	}
	return "", "", errNoIdentifier
}

// arrayOp is a {"add": [...], "remove": [...]} attribute value.
type arrayOp struct {
	add, remove []any
}

// asArrayOp reports whether v is an array operation (an object whose only
// keys are "add" and/or "remove"), and an error type when those are not
// arrays.
func asArrayOp(v any) (op arrayOp, isOp bool, errType string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return op, false, ""
	}
	for k := range m {
		if k != "add" && k != "remove" {
			return op, false, "" // a nested custom attribute
		}
	}
	if a, ok := m["add"]; ok {
		if op.add, ok = a.([]any); !ok {
			return op, true, errArrayOpFormat
		}
	}
	if r, ok := m["remove"]; ok {
		if op.remove, ok = r.([]any); !ok {
			return op, true, errArrayOpFormat
		}
	}
	return op, true, ""
}

// applyAttributes validates and applies one attributes object. It returns
// the data points it cost, whether it was processed (an unknown user with
// _update_existing_only is not), and the error type when it is rejected.
func (s *Sim) applyAttributes(v any) (dataPoints int, processed bool, errType string) {
	obj, ok := v.(map[string]any)
	if !ok {
		return 0, false, errNotObject
	}
	idField, key, errType := identify(obj)
	if errType != "" {
		return 0, false, errType
	}
	existingOnly := false
	if v, ok := obj[fieldUpdateExistingOnly]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return 0, false, errUpdateFlag
		}
		existingOnly = b
	}
	delete(obj, idField)
	delete(obj, fieldUpdateExistingOnly)
	for _, v := range obj {
		if _, _, errType := asArrayOp(v); errType != "" {
			return 0, false, errType
		}
	}
	limit := s.opts.ArrayLimit
	processed = s.users.update(key, !existingOnly, func(attrs map[string]any) {
		for name, v := range obj {
			if op, ok, _ := asArrayOp(v); ok {
				cur, _ := attrs[name].([]any)
				attrs[name] = applyArrayOp(cur, op, limit)
				continue
			}
			switch v := v.(type) {
			case nil:
				delete(attrs, name)
			case []any:
				attrs[name] = uniqueTruncated(nil, v, limit)
			default:
				attrs[name] = v
			}
		}
	})
	if !processed {
		return 0, false, ""
	}
	return len(obj), true, ""
}

// sameValue reports whether two decoded JSON values are equal (strings,
// the common case, without allocating).
func sameValue(a, b any) bool {
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		return ok && as == bs
	}
	if _, ok := b.(string); ok {
		return false
	}
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	return string(aj) == string(bj)
}

func containsValue(vs []any, v any) bool {
	for _, e := range vs {
		if sameValue(e, v) {
			return true
		}
	}
	return false
}

// uniqueTruncated appends the values of add not already in base and keeps
// the array within limit by dropping its oldest elements (the first ones),
// as Braze does when an array attribute grows past its maximum length.
// Arrays are small, so a linear search beats a map.
func uniqueTruncated(base, add []any, limit int) []any {
	out := make([]any, 0, len(base)+len(add))
	for _, src := range [2][]any{base, add} {
		for _, v := range src {
			if !containsValue(out, v) {
				out = append(out, v)
			}
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// applyArrayOp removes then adds values of an array attribute, keeping
// values unique and the array within limit (the oldest dropped).
func applyArrayOp(cur []any, op arrayOp, limit int) []any {
	kept := make([]any, 0, len(cur)+len(op.add))
	for _, v := range cur {
		if !containsValue(op.remove, v) {
			kept = append(kept, v)
		}
	}
	return uniqueTruncated(kept, op.add, limit)
}
