package profiles_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/profiles"
)

// TestFieldValuesAgreeWithGet: the one field FieldValues reads server-side
// is the field and identities Get shows, for every shape a value takes
// (escaped text, numbers, booleans, lists, dates, several identity values),
// and a deleted or merged-away profile does not exist.
func TestFieldValuesAgreeWithGet(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := context.Background()
	recs := []profiles.Record{
		{Fields: map[string]any{"braze_id": "u1", "email": "a@x.io", "note": `quote " and \ back`, "n": 3.5, "ok": true}},
		{Fields: map[string]any{"braze_id": "u2", "note": "new\nline <&> é", "n": float64(-12), "ok": false, "tags": []any{"a", "b"}}},
		{Fields: map[string]any{"email": "c@x.io", "when": "2024-01-02T03:04:05Z"}},
		{Fields: map[string]any{"braze_id": "u0", "email": "a@x.io"}}, // merges into the first: two braze_ids
		{Fields: map[string]any{"external_id": "e5", "braze_id": "u5"}},
	}
	for _, r := range recs {
		upsert(t, s, b.acct, "braze_users", r)
	}
	upsert(t, s, b.acct, "braze_users", profiles.Record{Fields: map[string]any{"external_id": "e6", "email": "c@x.io"}, EventTime: time.Now().Add(time.Hour)})
	u5, err := s.Lookup(ctx, b.acct, "braze_id", "u5")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, b.acct, u5.ID); err != nil {
		t.Fatal(err)
	}
	ids := []string{"1", "2", "3", "4", "5", "6", "99"}
	ps, err := s.GetMany(ctx, b.acct, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"braze_id", "email", "external_id", "note", "n", "ok", "tags", "when", "absent"} {
		fvs, err := s.FieldValues(ctx, b.acct, ids, field)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			got := fvs[i].Profile(id, field)
			p := ps[i]
			if (got == nil) != (p == nil) {
				t.Fatalf("profile %s field %s: exists %v, Get found %v", id, field, got != nil, p != nil)
			}
			if p == nil {
				continue
			}
			if !reflect.DeepEqual(got.Fields[field], p.Fields[field]) {
				t.Errorf("profile %s field %s: value %#v, Get shows %#v", id, field, got.Fields[field], p.Fields[field])
			}
			if !reflect.DeepEqual(got.Identities[field], p.Identities[field]) {
				t.Errorf("profile %s field %s: identities %v, Get shows %v", id, field, got.Identities[field], p.Identities[field])
			}
		}
	}
}
