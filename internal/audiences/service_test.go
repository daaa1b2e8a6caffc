package audiences_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/redis/go-redis/v9"
)

func mustAudiences(t *testing.T, svc *audiences.Service, id string, want ...string) {
	t.Helper()
	got, err := svc.ProfileAudiences(context.Background(), acct, id)
	if err != nil {
		t.Fatal(err)
	}
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("profile %s is in %v, want %v", id, got, want)
	}
}

func TestEnsureDefaultsIsIdempotent(t *testing.T) {
	t.Parallel()
	svc, _ := setup(t, 0)
	ctx := context.Background()
	created, err := svc.EnsureDefaults(ctx, acct)
	if err != nil || !created {
		t.Fatalf("first EnsureDefaults = %v, %v; want created", created, err)
	}
	created, err = svc.EnsureDefaults(ctx, acct)
	if err != nil || created {
		t.Fatalf("second EnsureDefaults = %v, %v; want nothing created", created, err)
	}
	list, err := svc.List(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, a := range list {
		slugs = append(slugs, a.Slug)
		if !a.Builtin {
			t.Errorf("%s is not marked built-in", a.Slug)
		}
	}
	if !slices.Equal(slugs, []string{"lytics_all", "lytics_known", "lytics_new"}) {
		t.Fatalf("built-ins = %v", slugs)
	}
	if err := svc.Delete(ctx, acct, "lytics_all"); !errors.Is(err, audiences.ErrBuiltin) {
		t.Errorf("deleting a built-in: %v, want ErrBuiltin", err)
	}
	name := "x"
	if _, _, err := svc.Update(ctx, acct, "lytics_new", audiences.Patch{Name: &name}); !errors.Is(err, audiences.ErrBuiltin) {
		t.Errorf("updating a built-in: %v, want ErrBuiltin", err)
	}
}

func TestBuiltinsAreCreatedLazilyAndEvaluated(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	now := b.clock.Now()
	known := b.profiles.put(profiles.Profile{
		Identities: map[string][]string{"email": {"a@x.io"}}, FirstSeen: now.Add(-time.Hour), LastSeen: now,
	})
	old := b.profiles.put(profiles.Profile{
		Identities: map[string][]string{"cookie": {"c1"}}, FirstSeen: now.Add(-30 * 24 * time.Hour), LastSeen: now,
	})
	ext := b.profiles.put(profiles.Profile{
		Identities: map[string][]string{"external_id": {"u1"}}, FirstSeen: now.Add(-30 * 24 * time.Hour), LastSeen: now,
	})
	if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{known, old, ext}); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, known.ProfileID, "lytics_all", "lytics_known", "lytics_new")
	mustAudiences(t, svc, old.ProfileID, "lytics_all")
	mustAudiences(t, svc, ext.ProfileID, "lytics_all", "lytics_known")
	if n, _ := svc.Size(ctx, acct, "lytics_all"); n != 3 {
		t.Errorf("lytics_all size %d, want 3", n)
	}
	// A repeated change with nothing new changes nothing and logs nothing.
	before := len(b.entries(t))
	if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{known, old, ext}); err != nil {
		t.Fatal(err)
	}
	if after := len(b.entries(t)); after != before {
		t.Errorf("an unchanged profile logged %d entries", after-before)
	}
}

func TestRuleAudienceFollowsProfileChangesInOrder(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	_, err := svc.Create(ctx, acct, audiences.Audience{
		Slug: "french", Name: "French", Kind: audiences.KindRule,
		Rule: json.RawMessage(`{"field":"country","op":"eq","value":"FR"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := profiles.Profile{ID: "1", Fields: map[string]any{"country": "FR"}}
	for _, country := range []string{"FR", "DE", "FR"} {
		p.Fields = map[string]any{"country": country}
		if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{b.profiles.put(p)}); err != nil {
			t.Fatal(err)
		}
	}
	mustAudiences(t, svc, "1", "french", "lytics_all")
	var french []string
	for _, e := range b.entries(t) {
		if strings.HasSuffix(e, " french 1") {
			french = append(french, e)
		}
	}
	want := []string{"enter french 1", "exit french 1", "enter french 1"}
	if !slices.Equal(french, want) {
		t.Fatalf("log of profile 1 in french = %v, want %v", french, want)
	}
}

func TestDeletedAndMergedProfilesExit(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "vip", Kind: audiences.KindList}); err != nil {
		t.Fatal(err)
	}
	now := b.clock.Now()
	gone := b.profiles.put(profiles.Profile{Identities: map[string][]string{"email": {"gone@x.io"}}, FirstSeen: now})
	loser := b.profiles.put(profiles.Profile{Identities: map[string][]string{"email": {"loser@x.io"}}, FirstSeen: now})
	winner := b.profiles.put(profiles.Profile{Identities: map[string][]string{"external_id": {"w"}}, FirstSeen: now})
	if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{gone, loser, winner}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateMembers(ctx, acct, "vip", []audiences.Identity{{"email": "gone@x.io"}, {"email": "loser@x.io"}}, nil); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, loser.ProfileID, "lytics_all", "lytics_known", "lytics_new", "vip")

	// gone is deleted, loser is merged into winner.
	b.profiles.remove(gone.ProfileID)
	b.profiles.remove(loser.ProfileID)
	err := svc.ProfilesChanged(ctx, acct, []profiles.Change{
		{ProfileID: gone.ProfileID},
		{ProfileID: loser.ProfileID, MergedInto: winner.ProfileID},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, gone.ProfileID)
	mustAudiences(t, svc, loser.ProfileID)
	// The survivor takes over the list membership; its rule audiences come
	// from its own change.
	mustAudiences(t, svc, winner.ProfileID, "lytics_all", "lytics_known", "lytics_new", "vip")
	for _, slug := range []string{"lytics_all", "vip"} {
		ids, _, err := svc.Members(ctx, acct, slug, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(ids, gone.ProfileID) || slices.Contains(ids, loser.ProfileID) {
			t.Errorf("%s still holds a gone profile: %v", slug, ids)
		}
	}
	log := b.entries(t)
	for _, want := range []string{
		"exit vip " + gone.ProfileID, "exit lytics_all " + gone.ProfileID,
		"exit vip " + loser.ProfileID, "enter vip " + winner.ProfileID,
	} {
		if !slices.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestListAudienceMembers(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "newsletter", Kind: audiences.KindList}); err != nil {
		t.Fatal(err)
	}
	existing := b.profiles.put(profiles.Profile{Identities: map[string][]string{"email": {"known@x.io"}}})
	counts, err := svc.UpdateMembers(ctx, acct, "newsletter", []audiences.Identity{
		{"email": "known@x.io"}, {"email": "unknown@x.io"}, {"email": "known@x.io"}, {"cookie": "c1"},
	}, []audiences.Identity{{"email": "nobody@x.io"}})
	if err != nil {
		t.Fatal(err)
	}
	want := audiences.MemberCounts{Added: 2, Unchanged: 1, Created: 1, NotFound: 1,
		Rejected: []audiences.Rejection{{Index: 3, Reason: "no identity"}}}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("counts %+v, want %+v", counts, want)
	}
	// The unknown identity got an (empty) profile that holds it.
	created := b.profiles.lookup("email", "unknown@x.io")
	if created == "" {
		t.Fatal("no profile was created for the unknown identity")
	}
	ids, _, _ := svc.Members(ctx, acct, "newsletter", "", 10)
	if !slices.Equal(ids, []string{existing.ProfileID, created}) {
		t.Fatalf("members %v, want %v", ids, []string{existing.ProfileID, created})
	}
	counts, err = svc.UpdateMembers(ctx, acct, "newsletter", nil, []audiences.Identity{{"email": "known@x.io"}, {"phone": "1", "email": "unknown@x.io"}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(counts) != fmt.Sprint(audiences.MemberCounts{Removed: 2}) {
		t.Fatalf("remove counts %+v, want 2 removed", counts)
	}
	if n, _ := svc.Size(ctx, acct, "newsletter"); n != 0 {
		t.Fatalf("size %d after removing everyone", n)
	}
	// A profile change leaves list membership alone.
	if _, err := svc.UpdateMembers(ctx, acct, "newsletter", []audiences.Identity{{"email": "known@x.io"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{existing}); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svc, existing.ProfileID, "lytics_all", "lytics_known", "newsletter")

	if _, err := svc.UpdateMembers(ctx, acct, "newsletter", []audiences.Identity{{"email": ""}}, nil); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("empty identity value: %v, want ErrInvalid", err)
	}
	if _, err := svc.UpdateMembers(ctx, acct, "lytics_all", []audiences.Identity{{"email": "a@b"}}, nil); !errors.Is(err, audiences.ErrNotList) {
		t.Errorf("adding to a rule audience: %v, want ErrNotList", err)
	}
	if _, err := svc.UpdateMembers(ctx, acct, "nope", []audiences.Identity{{"email": "a@b"}}, nil); !errors.Is(err, audiences.ErrNotFound) {
		t.Errorf("adding to a missing audience: %v, want ErrNotFound", err)
	}
}

func TestMembersPaging(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	var changes []profiles.Change
	for range 25 {
		changes = append(changes, b.profiles.put(profiles.Profile{}))
	}
	if err := svc.ProfilesChanged(ctx, acct, changes); err != nil {
		t.Fatal(err)
	}
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		ids, next, err := svc.Members(ctx, acct, "lytics_all", cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids...)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	for i, id := range all {
		if id != strconv.Itoa(i+1) {
			t.Fatalf("paged members %v, want 1 to 25 in order", all)
		}
	}
	if len(all) != 25 {
		t.Fatalf("paged members %v, want 1 to 25 in order", all)
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	svc, _ := setup(t, 0)
	ctx := context.Background()
	cases := []audiences.Audience{
		{Slug: "Bad Slug", Kind: audiences.KindList},
		{Slug: "lytics_mine", Kind: audiences.KindList},
		{Slug: "x", Kind: "other"},
		{Slug: "x"},
		{Slug: "x", Kind: audiences.KindRule},
		{Slug: "x", Kind: audiences.KindList, Rule: json.RawMessage(`{"and":[]}`)},
		{Slug: "x", Kind: audiences.KindRule, Rule: json.RawMessage(`{"and":[{"field":"a","op":"gt","value":"z"}]}`)},
	}
	for _, a := range cases {
		if _, err := svc.Create(ctx, acct, a); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("Create(%+v) = %v, want ErrInvalid", a, err)
		}
	}
	_, err := svc.Create(ctx, acct, audiences.Audience{Slug: "x", Kind: audiences.KindRule, Rule: json.RawMessage(`{"and":[{"field":"a","op":"gt","value":"z"}]}`)})
	var re *fault.ValidationError
	if !errors.As(err, &re) || re.Field != "rule.and[0].value" {
		t.Errorf("rule error %v does not name rule.and[0].value", err)
	}
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "dup", Kind: audiences.KindList}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "dup", Kind: audiences.KindList}); !errors.Is(err, audiences.ErrExists) {
		t.Errorf("duplicate slug: %v, want ErrExists", err)
	}
}

func TestDefinitionChangesReachOtherProcesses(t *testing.T) {
	t.Parallel()
	svcA, b := setup(t, 0)
	svcB := audiences.New(b.rdb, b.ns, b.profiles, audiences.Options{Clock: b.clock.Now})
	ctx := context.Background()
	p := b.profiles.put(profiles.Profile{Fields: map[string]any{"plan": "gold"}})
	if err := svcA.ProfilesChanged(ctx, acct, []profiles.Change{p}); err != nil { // A caches the definitions
		t.Fatal(err)
	}
	if _, err := svcB.Create(ctx, acct, audiences.Audience{
		Slug: "gold", Kind: audiences.KindRule, Rule: json.RawMessage(`{"field":"plan","op":"eq","value":"gold"}`),
	}); err != nil {
		t.Fatal(err)
	}
	if err := svcA.ProfilesChanged(ctx, acct, []profiles.Change{p}); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svcA, p.ProfileID, "gold", "lytics_all")
	// A deletion in B is seen by A too: A's next write does not re-enter it.
	if err := svcB.Delete(ctx, acct, "gold"); err != nil {
		t.Fatal(err)
	}
	if err := svcA.ProfilesChanged(ctx, acct, []profiles.Change{p}); err != nil {
		t.Fatal(err)
	}
	mustAudiences(t, svcA, p.ProfileID, "lytics_all")
	if n, _ := svcA.Size(ctx, acct, "gold"); n != 0 {
		t.Fatalf("deleted audience has %d members", n)
	}
	log := b.entries(t)
	if log[len(log)-1] != "exit gold "+p.ProfileID {
		t.Fatalf("last log entry %q, want the exit from the deleted audience", log[len(log)-1])
	}
}

func TestReevaluateChunkWithProgress(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 3)
	ctx := context.Background()
	for i := range 10 {
		b.profiles.put(profiles.Profile{Fields: map[string]any{"score": float64(i)}})
	}
	if _, err := svc.Create(ctx, acct, audiences.Audience{
		Slug: "high", Kind: audiences.KindRule, Rule: json.RawMessage(`{"field":"score","op":"gte","value":5}`),
	}); err != nil {
		t.Fatal(err)
	}
	if pr, _ := svc.Progress(ctx, acct, "high"); pr == nil || pr.State != audiences.StatePending {
		t.Fatalf("progress after create = %+v, want pending", pr)
	}
	run := func() audiences.Counts {
		var total audiences.Counts
		cursor := ""
		for chunks := 0; ; chunks++ {
			next, done, c, err := svc.ReevaluateChunk(ctx, acct, "high", cursor)
			if err != nil {
				t.Fatal(err)
			}
			total.Profiles += c.Profiles
			total.Entered += c.Entered
			total.Exited += c.Exited
			if done {
				return total
			}
			if chunks == 0 {
				pr, _ := svc.Progress(ctx, acct, "high")
				if pr.State != audiences.StateRunning || pr.Scanned != 3 || pr.Cursor != next {
					t.Fatalf("progress after one chunk = %+v, want running, 3 scanned, cursor %s", pr, next)
				}
			}
			if chunks > 10 {
				t.Fatal("re-evaluation does not end")
			}
			cursor = next
		}
	}
	if c := run(); c.Profiles != 10 || c.Entered != 5 || c.Exited != 0 {
		t.Fatalf("first re-evaluation %+v, want 10 scanned, 5 entered", c)
	}
	info, err := svc.Get(ctx, acct, "high")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 5 || info.Reevaluation == nil || info.Reevaluation.State != audiences.StateDone || info.Reevaluation.Scanned != 10 {
		t.Fatalf("Get = size %d, progress %+v; want 5, done with 10 scanned", info.Size, info.Reevaluation)
	}
	_, changed, err := svc.Update(ctx, acct, "high", audiences.Patch{Rule: json.RawMessage(`{"field":"score","op":"gte","value":8}`)})
	if err != nil || !changed {
		t.Fatalf("Update = %v, %v; want rule changed", changed, err)
	}
	if c := run(); c.Entered != 0 || c.Exited != 3 {
		t.Fatalf("second re-evaluation %+v, want 3 exited", c)
	}
	if n, _ := svc.Size(ctx, acct, "high"); n != 2 {
		t.Fatalf("size %d, want 2", n)
	}
	if _, _, _, err := svc.ReevaluateChunk(ctx, acct, "missing", ""); !errors.Is(err, audiences.ErrNotFound) {
		t.Errorf("re-evaluating a missing audience: %v", err)
	}
}

func TestRelativeTimeRulesFollowTheClock(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 4)
	ctx := context.Background()
	if _, err := svc.Create(ctx, acct, audiences.Audience{
		Slug: "active", Kind: audiences.KindRule, Rule: json.RawMessage(`{"field":"last_seen","op":"within_last","days":3}`),
	}); err != nil {
		t.Fatal(err)
	}
	now := b.clock.Now()
	var changes []profiles.Change
	for i := range 6 {
		changes = append(changes, b.profiles.put(profiles.Profile{
			FirstSeen: now.Add(-time.Duration(i) * 24 * time.Hour),
			LastSeen:  now.Add(-time.Duration(i) * 24 * time.Hour),
		}))
	}
	if err := svc.ProfilesChanged(ctx, acct, changes); err != nil {
		t.Fatal(err)
	}
	size := func(slug string) int64 {
		n, err := svc.Size(ctx, acct, slug)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if size("active") != 4 || size("lytics_new") != 6 {
		t.Fatalf("at start: active %d (want 4: 0..3 days), new %d (want 6)", size("active"), size("lytics_new"))
	}
	b.clock.Add(2*24*time.Hour + time.Minute)
	c, err := svc.ReevaluateRelative(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if size("active") != 1 || size("lytics_new") != 5 {
		t.Fatalf("2 days later: active %d (want 1: 2 days), new %d (want 5: 2..6 days)", size("active"), size("lytics_new"))
	}
	if c.Exited != 4 || c.Entered != 0 || c.Profiles != 6 {
		t.Fatalf("counts %+v, want 6 profiles, 4 exits", c)
	}
	// A profile seen again re-enters at once through the change hook.
	p := changes[5].Profile
	p.LastSeen = b.clock.Now()
	if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{b.profiles.put(*p)}); err != nil {
		t.Fatal(err)
	}
	if size("active") != 2 {
		t.Fatalf("after a visit: active %d, want 2", size("active"))
	}
	log := b.entries(t)
	if last := log[len(log)-1]; last != fmt.Sprintf("enter active %s", p.ID) {
		t.Fatalf("last entry %q", last)
	}
}

func TestProfilesAudiencesInOneCall(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	now := b.clock.Now()
	known := b.profiles.put(profiles.Profile{Identities: map[string][]string{"email": {"k@x.io"}}, FirstSeen: now.Add(-30 * 24 * time.Hour)})
	anon := b.profiles.put(profiles.Profile{FirstSeen: now.Add(-30 * 24 * time.Hour)})
	if err := svc.ProfilesChanged(ctx, acct, []profiles.Change{known, anon}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.ProfilesAudiences(ctx, acct, []string{known.ProfileID, anon.ProfileID, "999999"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[known.ProfileID], []string{"lytics_all", "lytics_known"}) ||
		!slices.Equal(got[anon.ProfileID], []string{"lytics_all"}) || len(got["999999"]) != 0 {
		t.Fatalf("ProfilesAudiences = %v", got)
	}
}

// TestMembersPagingAcrossSparseBitmap: members far apart, across the
// bitmap reads' 32,768-id chunks, are paged in id order whatever the page
// size, none repeated or skipped.
func TestMembersPagingAcrossSparseBitmap(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	want := []string{"3", "7", "8", "32767", "32768", "32769", "65536", "70000", "300001"}
	var changes []profiles.Change
	for _, id := range want {
		changes = append(changes, b.profiles.put(profiles.Profile{ID: id}))
	}
	if err := svc.ProfilesChanged(ctx, acct, changes); err != nil {
		t.Fatal(err)
	}
	for _, count := range []int{1, 2, 4, 9, 100} {
		var all []string
		cursor := ""
		for pages := 0; ; pages++ {
			ids, next, err := svc.Members(ctx, acct, "lytics_all", cursor, count)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, ids...)
			if next == "" {
				break
			}
			if pages > len(want) {
				t.Fatalf("count %d: paging does not end", count)
			}
			cursor = next
		}
		if !slices.Equal(all, want) {
			t.Fatalf("count %d: paged %v, want %v", count, all, want)
		}
	}
	if n, err := svc.Size(ctx, acct, "lytics_all"); err != nil || n != int64(len(want)) {
		t.Fatalf("size %d (%v), want %d", n, err, len(want))
	}
	var ve *fault.ValidationError
	if _, _, err := svc.Members(ctx, acct, "lytics_all", "x7", 10); !errors.As(err, &ve) || ve.Field != "cursor" {
		t.Fatalf("a cursor that is not a profile id: %v", err)
	}
}

// TestProfileIDsMustBeNumbers: membership is kept by profile number, so an
// id the profiles store could not have given is refused with its name, not
// stored under another number.
func TestProfileIDsMustBeNumbers(t *testing.T) {
	t.Parallel()
	svc, _ := setup(t, 0)
	ctx := context.Background()
	for _, id := range []string{"p1", "007", "-1", "4294967296"} {
		p := profiles.Profile{ID: id}
		err := svc.ProfilesChanged(ctx, acct, []profiles.Change{{ProfileID: id, Profile: &p}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q is not a profile number", id)) {
			t.Errorf("profile %q: %v", id, err)
		}
	}
	if _, err := svc.ProfileAudiences(ctx, acct, "p1"); err == nil {
		t.Error("ProfileAudiences of p1: no error")
	}
}

// TestMigrateMemberSets: membership an earlier build kept in a sorted set
// per audience and a set per profile ends up in the bitmaps, with the old
// keys gone, and a second run moves nothing.
func TestMigrateMemberSets(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 0)
	ctx := context.Background()
	if _, err := svc.EnsureDefaults(ctx, acct); err != nil {
		t.Fatal(err)
	}
	oldAll := b.ns.Account(acct, "aud", "m", "lytics_all")
	oldKnown := b.ns.Account(acct, "aud", "m", "lytics_known")
	ids := []string{"1", "2", "10", "40000"}
	var old []string
	for _, id := range ids {
		pkey := b.ns.Account(acct, "aud", "p", id)
		old = append(old, pkey)
		b.rdb.ZAdd(ctx, oldAll, redis.Z{Member: id})
		b.rdb.SAdd(ctx, pkey, "lytics_all")
	}
	b.rdb.ZAdd(ctx, oldKnown, redis.Z{Member: "10"})
	b.rdb.SAdd(ctx, b.ns.Account(acct, "aud", "p", "10"), "lytics_known")
	n, err := svc.MigrateMemberSets(ctx, acct)
	if err != nil || n != 5 {
		t.Fatalf("migrated %d (%v), want 5", n, err)
	}
	if got, _, err := svc.Members(ctx, acct, "lytics_all", "", 10); err != nil || !slices.Equal(got, []string{"1", "2", "10", "40000"}) {
		t.Fatalf("lytics_all after migrating: %v (%v)", got, err)
	}
	mustAudiences(t, svc, "10", "lytics_all", "lytics_known")
	if n, err := b.rdb.Exists(ctx, append(old, oldAll, oldKnown)...).Result(); err != nil || n != 0 {
		t.Fatalf("%d old keys left (%v)", n, err)
	}
	if n, err := svc.MigrateMemberSets(ctx, acct); err != nil || n != 0 {
		t.Fatalf("second run migrated %d (%v), want 0", n, err)
	}
}

// TestEvaluating: an audience is evaluating from its creation (pending)
// through its chunks (running) until done; one whose evaluation made no
// progress for two minutes no longer counts, and an audience never
// evaluated (a built-in) never does.
func TestEvaluating(t *testing.T) {
	t.Parallel()
	svc, b := setup(t, 3)
	ctx := context.Background()
	for i := range 5 {
		b.profiles.put(profiles.Profile{Fields: map[string]any{"score": float64(i)}})
	}
	for _, slug := range []string{"high", "stalled"} {
		if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: slug, Kind: audiences.KindRule, Rule: json.RawMessage(`{"field":"score","op":"gte","value":3}`)}); err != nil {
			t.Fatal(err)
		}
	}
	evaluating := func(slugs ...string) bool {
		t.Helper()
		ev, err := svc.Evaluating(ctx, acct, slugs)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if !evaluating("high") || evaluating("lytics_all") {
		t.Fatal("a new rule audience must be evaluating, a built-in one not")
	}
	next, done, _, err := svc.ReevaluateChunk(ctx, acct, "high", "")
	if err != nil || done {
		t.Fatalf("first chunk: done %v, %v", done, err)
	}
	if !evaluating("high") {
		t.Fatal("an audience between chunks must be evaluating")
	}
	for !done {
		if next, done, _, err = svc.ReevaluateChunk(ctx, acct, "high", next); err != nil {
			t.Fatal(err)
		}
	}
	if evaluating("high") || !evaluating("high", "stalled") {
		t.Fatal("an evaluated audience must not be evaluating; one pending must")
	}
	b.clock.Add(2*time.Minute + time.Second)
	if evaluating("stalled") {
		t.Fatal("an evaluation without progress for two minutes must not count")
	}
}
