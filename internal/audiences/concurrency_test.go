package audiences_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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
			p := profiles.Profile{ID: strconv.Itoa(i + 1), Fields: map[string]any{"country": country}}
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
		id := strconv.Itoa(i + 1)
		if in[id] != (last["fr "+id] == "enter") {
			t.Errorf("%s: member %v, but the log ends with %q", id, in[id], last["fr "+id])
		}
	}
}

// TestFastPathNotTrustedAfterOtherWrites: the hook skips profiles whose
// decision did not change, but not after another run (here a relative-time
// re-evaluation) changed their membership.
func TestFastPathNotTrustedAfterOtherWrites(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	start := b.clock.Now()
	p := b.profiles.put(profiles.Profile{FirstSeen: start, LastSeen: start})
	if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{p}); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, p.ProfileID, "lytics_all", "lytics_new")
	b.clock.Add(8 * 24 * 60 * 60 * 1e9) // 8 days
	if _, err := svc.ReevaluateRelative(ctx, acct); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, p.ProfileID, "lytics_all")
	// Back at the start, the same profile decides the same as the first time;
	// the membership must follow, not the remembered decision.
	b.clock.Add(-8 * 24 * 60 * 60 * 1e9)
	if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{p}); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, p.ProfileID, "lytics_all", "lytics_new")
}
