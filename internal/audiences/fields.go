package audiences

import "context"

// readsFields reports whether a rule reads a profile data field (a bare name
// or "fields.<name>"), as opposed to identities, id, first and last seen.
func readsFields(r Rule) bool {
	if r.Field != "" {
		if f, err := parseField(r.Field, ""); err == nil && f.kind == refField {
			return true
		}
	}
	for _, x := range r.And {
		if readsFields(x) {
			return true
		}
	}
	for _, x := range r.Or {
		if readsFields(x) {
			return true
		}
	}
	return r.Not != nil && readsFields(*r.Not)
}

// NeedsFields implements profiles.FieldsNeeder: the hook reads profile data
// fields only when some rule audience of the account looks at one. The
// built-in audiences look at identities and first seen only.
func (s *Service) NeedsFields(ctx context.Context, acct string) (bool, error) {
	d, err := s.defs(ctx, acct, false)
	if err != nil {
		return true, err
	}
	return d.needsFields, nil
}
