package profiles

import (
	"context"
	"time"
)

// batchChanges lists what a committed batch changed, for the ChangeHook:
// merged-away profiles first, then every profile it wrote, as it wrote
// them (no read-back), but for those a CreationHook already took.
func (s *Store) batchChanges(ctx context.Context, account string, p *pending) []Change {
	changes := mergeChanges(p.w.merges)
	fields := s.hookNeedsFields(ctx, account)
	for _, st := range p.w.order {
		if !st.gone && !(st.created && p.createdHandled) {
			changes = append(changes, Change{ProfileID: st.id, Profile: st.profile(fields)})
		}
	}
	return changes
}

// mergeChanges turns merges (loser, survivor, ... in order) into a Change
// per loser naming its final survivor.
func mergeChanges(merges []string) []Change {
	if len(merges) == 0 {
		return nil
	}
	survivor := make(map[string]string, len(merges)/2)
	for i := 0; i+1 < len(merges); i += 2 {
		survivor[merges[i]] = merges[i+1]
	}
	changes := make([]Change, 0, len(merges)/2)
	for i := 0; i+1 < len(merges); i += 2 {
		changes = append(changes, Change{ProfileID: merges[i], MergedInto: finalSurvivor(survivor, merges[i])})
	}
	return changes
}

// finalSurvivor follows merges from id to the profile that survives them.
func finalSurvivor(survivor map[string]string, id string) string {
	for range 64 {
		next, ok := survivor[id]
		if !ok {
			break
		}
		id = next
	}
	return id
}

// hookNeedsFields tells whether the hook reads data fields of the account's
// profiles (FieldsNeeder); when unsure, it does.
func (s *Store) hookNeedsFields(ctx context.Context, account string) bool {
	if fn, ok := s.hook.(FieldsNeeder); ok {
		if need, err := fn.NeedsFields(ctx, account); err == nil && !need {
			return false
		}
	}
	return true
}

// profile turns the state into a Profile, with its data fields when
// withFields.
func (p *profileState) profile(withFields bool) *Profile {
	out := &Profile{}
	p.fill(out, withFields)
	return out
}

// fill makes out the profile of the state, reusing its maps.
func (p *profileState) fill(out *Profile, withFields bool) {
	out.ID = p.id
	out.FirstSeen = time.UnixMilli(p.fs).UTC()
	out.LastSeen = time.UnixMilli(p.ls).UTC()
	if out.Identities == nil {
		out.Identities = make(map[string][]string, len(p.ids))
		out.Fields = map[string]any{}
		out.FieldTimes = map[string]time.Time{}
	} else {
		clear(out.Identities)
		clear(out.Fields)
		clear(out.FieldTimes)
	}
	addIdentities(out, p.ids)
	if withFields {
		addFields(out, p.decoded())
	}
}

// createdProfiles are the recycled profiles of CreationHook.CreatedWrites.
type createdProfiles struct {
	all  []*Profile
	ptrs []*Profile
}
