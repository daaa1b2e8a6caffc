package changelog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type bundle struct {
	rdb   *redis.Client
	ns    keyspace.Namespace
	clock *clock
}

func setup(t *testing.T, retention time.Duration) (*changelog.Log, *bundle) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	c := &clock{t: time.Now()}
	return changelog.New(rdb, ns, changelog.Options{Retention: retention, Clock: c.Now}), &bundle{rdb: rdb, ns: ns, clock: c}
}

func appendN(t *testing.T, l *changelog.Log, acct, profile string, n int) {
	t.Helper()
	for i := range n {
		op := changelog.OpEnter
		if i%2 == 1 {
			op = changelog.OpExit
		}
		if err := l.Append(context.Background(), acct, changelog.Entry{Audience: fmt.Sprintf("a%d", i), ProfileID: profile, Op: op}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRangeKeepsOrderPerProfile(t *testing.T) {
	t.Parallel()
	l, _ := setup(t, 0)
	ctx := context.Background()
	appendN(t, l, "acct", "p1", 10)
	got, err := l.Range(ctx, "acct", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("got %d entries, want 10", len(got))
	}
	for i, e := range got {
		if e.Audience != fmt.Sprintf("a%d", i) || e.ProfileID != "p1" || e.Account != "acct" {
			t.Errorf("entry %d = %+v, out of order or wrong", i, e)
		}
		if i > 0 && !(got[i-1].ID < e.ID || len(got[i-1].ID) < len(e.ID)) {
			t.Errorf("IDs not increasing: %s then %s", got[i-1].ID, e.ID)
		}
		wantOp := changelog.OpEnter
		if i%2 == 1 {
			wantOp = changelog.OpExit
		}
		if e.Op != wantOp {
			t.Errorf("entry %d op %q, want %q", i, e.Op, wantOp)
		}
		if e.Time.IsZero() {
			t.Errorf("entry %d has no time", i)
		}
	}
}

func TestConsumersReadIndependently(t *testing.T) {
	t.Parallel()
	l, _ := setup(t, 0)
	ctx := context.Background()
	appendN(t, l, "acct", "before", 3)
	curA, created, err := l.CreateConsumer(ctx, "acct", "a", changelog.StartNow)
	if err != nil || !created {
		t.Fatalf("create a: %v %v", created, err)
	}
	if _, _, err := l.CreateConsumer(ctx, "acct", "b", changelog.StartOldest); err != nil {
		t.Fatal(err)
	}
	// Creation is idempotent and keeps the cursor.
	again, created, err := l.CreateConsumer(ctx, "acct", "a", changelog.StartOldest)
	if err != nil || created || again != curA {
		t.Fatalf("re-create a = %q %v %v, want %q false nil", again, created, err, curA)
	}
	appendN(t, l, "acct", "after", 4)

	a, err := l.Read(ctx, "acct", "a", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 4 || a[0].ProfileID != "after" {
		t.Fatalf("consumer a (StartNow) read %d entries starting %+v, want the 4 later ones", len(a), a)
	}
	b, err := l.Read(ctx, "acct", "b", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 5 || b[0].ProfileID != "before" {
		t.Fatalf("consumer b (StartOldest) read %d entries, want 5 from the start", len(b))
	}
	// Read does not move the cursor; Commit does.
	again2, _ := l.Read(ctx, "acct", "a", 100)
	if len(again2) != 4 {
		t.Fatalf("second read without commit got %d, want 4", len(again2))
	}
	if err := l.Commit(ctx, "acct", "a", a[1].ID); err != nil {
		t.Fatal(err)
	}
	rest, _ := l.Read(ctx, "acct", "a", 100)
	if len(rest) != 2 || rest[0].ID != a[2].ID {
		t.Fatalf("after commit read %d entries, want the last 2", len(rest))
	}
	// b is unaffected by a's commit.
	b2, _ := l.Read(ctx, "acct", "b", 100)
	if len(b2) != 7 {
		t.Fatalf("consumer b read %d entries, want all 7", len(b2))
	}
	// The cursor never moves back.
	if err := l.Commit(ctx, "acct", "a", a[0].ID); err != nil {
		t.Fatal(err)
	}
	if cur, _ := l.Cursor(ctx, "acct", "a"); cur != a[1].ID {
		t.Fatalf("cursor moved back to %s, want %s", cur, a[1].ID)
	}
}

func TestUnknownConsumer(t *testing.T) {
	t.Parallel()
	l, _ := setup(t, 0)
	ctx := context.Background()
	if _, err := l.Read(ctx, "acct", "nobody", 10); !errors.Is(err, changelog.ErrNoConsumer) {
		t.Errorf("Read: %v, want ErrNoConsumer", err)
	}
	if err := l.Commit(ctx, "acct", "nobody", "1-0"); !errors.Is(err, changelog.ErrNoConsumer) {
		t.Errorf("Commit: %v, want ErrNoConsumer", err)
	}
	if _, err := l.Reset(ctx, "acct", "nobody"); !errors.Is(err, changelog.ErrNoConsumer) {
		t.Errorf("Reset: %v, want ErrNoConsumer", err)
	}
}

func TestTrimStopsAtSlowestConsumer(t *testing.T) {
	t.Parallel()
	l, _ := setup(t, 0)
	ctx := context.Background()
	for _, c := range []string{"fast", "slow"} {
		if _, _, err := l.CreateConsumer(ctx, "acct", c, changelog.StartOldest); err != nil {
			t.Fatal(err)
		}
	}
	appendN(t, l, "acct", "p", 10)
	all, _ := l.Range(ctx, "acct", "", 100)
	if err := l.Commit(ctx, "acct", "fast", all[9].ID); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, "acct", "slow", all[3].ID); err != nil {
		t.Fatal(err)
	}
	n, err := l.Trim(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("trimmed %d entries, want 4 (those the slow consumer has read)", n)
	}
	rest, _ := l.Read(ctx, "acct", "slow", 100)
	if len(rest) != 6 || rest[0].ID != all[4].ID {
		t.Fatalf("slow consumer reads %d entries, want the 6 unread ones", len(rest))
	}
	// Once the slow consumer is deleted, the fast one alone bounds the trim.
	if err := l.DeleteConsumer(ctx, "acct", "slow"); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Trim(ctx, "acct"); n != 6 {
		t.Fatalf("second trim removed %d, want 6", n)
	}
	if got, _ := l.Len(ctx, "acct"); got != 0 {
		t.Fatalf("log has %d entries, want 0", got)
	}
}

func TestTrimByRetentionAndGap(t *testing.T) {
	t.Parallel()
	l, b := setup(t, time.Hour)
	ctx := context.Background()
	if _, _, err := l.CreateConsumer(ctx, "acct", "lazy", changelog.StartNow); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "acct", "p", 5)
	// Within the retention nothing unread is removed.
	if n, err := l.Trim(ctx, "acct"); err != nil || n != 0 {
		t.Fatalf("trim within retention removed %d (%v), want 0", n, err)
	}
	// Two hours later the unread entries are past the retention.
	b.clock.Set(time.Now().Add(2 * time.Hour))
	if n, err := l.Trim(ctx, "acct"); err != nil || n != 5 {
		t.Fatalf("trim past retention removed %d (%v), want 5", n, err)
	}
	if _, err := l.Read(ctx, "acct", "lazy", 10); !errors.Is(err, changelog.ErrGap) {
		t.Fatalf("Read after losing entries: %v, want ErrGap", err)
	}
	// A consumer created after the trim has lost nothing.
	if _, _, err := l.CreateConsumer(ctx, "acct", "fresh", changelog.StartNow); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(ctx, "acct", "fresh", 10); err != nil {
		t.Fatalf("fresh consumer: %v", err)
	}
	if _, _, err := l.CreateConsumer(ctx, "acct", "oldest", changelog.StartOldest); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(ctx, "acct", "oldest", 10); err != nil {
		t.Fatalf("consumer starting at the oldest kept entry: %v", err)
	}
	// Reset is the way out of the gap.
	if _, err := l.Reset(ctx, "acct", "lazy"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "acct", "q", 1)
	got, err := l.Read(ctx, "acct", "lazy", 10)
	if err != nil || len(got) != 1 || got[0].ProfileID != "q" {
		t.Fatalf("after reset read %v (%v), want the one new entry", got, err)
	}
}

func TestTrimWithoutConsumersKeepsRecent(t *testing.T) {
	t.Parallel()
	l, _ := setup(t, 0)
	ctx := context.Background()
	appendN(t, l, "acct", "p", 3)
	if n, err := l.Trim(ctx, "acct"); err != nil || n != 0 {
		t.Fatalf("trim removed %d (%v), want 0: entries are younger than 7 days", n, err)
	}
}

type fakeSource map[string][]string

func (f fakeSource) Members(_ context.Context, _, aud, cursor string, count int) ([]string, string, error) {
	ids := f[aud]
	start := 0
	for start < len(ids) && cursor != "" && ids[start] <= cursor {
		start++
	}
	end := min(start+count, len(ids))
	next := ""
	if end < len(ids) {
		next = ids[end-1]
	}
	return ids[start:end], next, nil
}

func TestBackfillResumes(t *testing.T) {
	t.Parallel()
	src := fakeSource{"a": {"1", "2", "3"}, "b": {"4", "5"}, "empty": nil}
	var got []changelog.Member
	cursor, pages := "", 0
	for {
		ms, next, done, err := changelog.Backfill(context.Background(), src, "acct", []string{"a", "empty", "b"}, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ms...)
		pages++
		if done {
			break
		}
		if pages > 20 {
			t.Fatal("backfill does not end")
		}
		cursor = next
	}
	want := []changelog.Member{{"a", "1"}, {"a", "2"}, {"a", "3"}, {"b", "4"}, {"b", "5"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backfill got %v, want %v", got, want)
	}
	if _, _, _, err := changelog.Backfill(context.Background(), src, "acct", []string{"a"}, "x", 2); err == nil {
		t.Fatal("bad cursor accepted")
	}
}

func TestGroupedEntryIsExpandedAndNeverSplit(t *testing.T) {
	t.Parallel()
	l, b := setup(t, 0)
	ctx := context.Background()
	acct := "acct-" + redistest.RandomID()
	key := changelog.StreamKey(b.ns, acct)
	for _, a := range []string{"x,y,z", "w"} {
		if err := b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []string{
			changelog.FieldAudience, a, changelog.FieldProfile, "p1", changelog.FieldOp, "enter", changelog.FieldTime, "1000",
		}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	es, err := l.Range(ctx, acct, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Audience)
		if e.ID != es[0].ID || e.ProfileID != "p1" || e.Op != changelog.OpEnter {
			t.Errorf("entry %+v: want p1 entering, with ID %s", e, es[0].ID)
		}
	}
	if !slices.Equal(got, []string{"x", "y", "z"}) {
		t.Fatalf("first stream entry gave %v, want x, y, z", got)
	}
	rest, err := l.Range(ctx, acct, es[len(es)-1].ID, 10)
	if err != nil || len(rest) != 1 || rest[0].Audience != "w" {
		t.Fatalf("after it: %+v, %v; want w alone", rest, err)
	}
	// Several profiles and audiences: profile by profile.
	if err := b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []string{
		changelog.FieldAudience, "x,y", changelog.FieldProfile, "7,8", changelog.FieldOp, "enter", changelog.FieldTime, "1000",
	}}).Err(); err != nil {
		t.Fatal(err)
	}
	last, err := l.Range(ctx, acct, rest[0].ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, e := range last {
		got = append(got, e.ProfileID+" "+e.Audience)
	}
	if want := []string{"7 x", "7 y", "8 x", "8 y"}; !slices.Equal(got, want) {
		t.Fatalf("entry of two profiles gave %v, want %v", got, want)
	}
}
