package audiences_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/profiles"
)

// TestConcurrentWritersKeepLogAndSetsInStep has two processes (Services)
// write conflicting states of the same profiles at the same time. For every
// profile and audience, the log must alternate enter/exit, starting with
// enter, and end in the state the membership sets hold.
func TestConcurrentWritersKeepLogAndSetsInStep(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	other := audiences.New(b.rdb, b.ns, b.profiles, audiences.Options{Clock: b.clock.Now})
	ctx := context.Background()
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "fr", Kind: audiences.KindRule,
		Rule: json.RawMessage(`{"field":"country","op":"eq","value":"FR"}`)}); err != nil {
		t.Fatal(err)
	}
	batch := func(country string) []profiles.Change {
		var cs []profiles.Change
		for i := range 50 {
			p := profiles.Profile{ID: fmt.Sprintf("p%02d", i), Fields: map[string]any{"country": country}}
			cs = append(cs, profiles.Change{ProfileID: p.ID, Profile: &p})
		}
		return cs
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w, s := range []*audiences.Service{svc, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				country := "FR"
				if (i+w)%2 == 1 {
					country = "DE"
				}
				if err := s.ProfilesChanged(ctx, acct, batch(country)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := map[string]string{}
	for _, e := range b.entries(t) {
		var op, slug, id string
		fmt.Sscan(e, &op, &slug, &id)
		k := slug + " " + id
		prev := last[k]
		if (prev == "" || prev == "exit") != (op == "enter") {
			t.Fatalf("%s: %s after %q", k, op, prev)
		}
		last[k] = op
	}
	members, _, err := svc.Members(ctx, acct, "fr", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, id := range members {
		in[id] = true
	}
	for i := range 50 {
		id := fmt.Sprintf("p%02d", i)
		if in[id] != (last["fr "+id] == "enter") {
			t.Errorf("%s: member %v, but the log ends with %q", id, in[id], last["fr "+id])
		}
	}
}
