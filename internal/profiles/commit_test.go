package profiles

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestCommitRefusesWhatItWasNotResolvedAgainst: a commit applies only if
// the write version and every checked key still hold what the batch was
// resolved against and no other writer holds the write turn; otherwise
// nothing of it is written. The turn's holder releases it by committing. A command that
// fails inside the transaction is an error, not a success.
func TestCommitRefusesWhatItWasNotResolvedAgainst(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{})
	ctx := context.Background()
	batches := inBatches(t, s, collidingRecords(), 10)
	// On a commitStream, as a Bulk sends its commits of new records.
	streamed := func(ctx context.Context, acct string, p *pending) error {
		errs, err := streamCommits(ctx, s, acct, []chainLink{{}}, p)
		if err != nil {
			return err
		}
		return errs[0]
	}
	for _, c := range []struct {
		name   string
		commit func(ctx context.Context, acct string, p *pending) error
	}{{"go-redis", func(ctx context.Context, acct string, p *pending) error { return s.commit(ctx, acct, p) }}, {"stream", streamed}} {
		t.Run(c.name, func(t *testing.T) {
			commit := c.commit
			acct := "acct-" + redistest.RandomID()
			resolve := func(b []prepared) *pending {
				t.Helper()
				p, err := s.resolve(ctx, acct, b, nil)
				if err != nil || p.stale {
					t.Fatalf("resolve: %v (stale %v)", err, p != nil && p.stale)
				}
				return p
			}
			version := func() string { return rdb.Get(ctx, s.keys.pver(acct)).Val() }

			// Another write lands between resolving and committing.
			p := resolve(batches[0])
			if _, err := s.writeBatchTx(ctx, acct, batches[1], ""); err != nil {
				t.Fatal(err)
			}
			before := version()
			if err := commit(ctx, acct, p); !errors.Is(err, errStaleCommit) {
				t.Fatalf("commit after another write: %v, want errStaleCommit", err)
			}
			if version() != before {
				t.Fatalf("a refused commit bumped the write version from %s to %s", before, version())
			}
			for _, sfx := range p.batch[0].ids {
				f, v := splitSuffix(sfx)
				if id := rdb.HGet(ctx, s.keys.index(acct, f), v).Val(); id != "" && !slices.ContainsFunc(batches[1], func(q prepared) bool { return slices.Contains(q.ids, sfx) }) {
					t.Fatalf("identity %s of the refused batch was written (profile %s)", sfx, id)
				}
			}

			// Another writer holds the write turn.
			turn := s.keys.turn(acct)
			rdb.Set(ctx, turn, "another-writer", 0)
			p = resolve(batches[2])
			before = version()
			if err := commit(ctx, acct, p); !errors.Is(err, errStaleCommit) {
				t.Fatalf("commit while another writer holds the turn: %v, want errStaleCommit", err)
			}
			if version() != before {
				t.Fatalf("a commit refused for the turn bumped the write version from %s to %s", before, version())
			}

			// The holder's commit applies and gives the turn up.
			rdb.Set(ctx, turn, "holder", 0)
			p = resolve(batches[2])
			p.turn = "holder"
			if err := commit(ctx, acct, p); err != nil {
				t.Fatalf("commit of the turn's holder: %v", err)
			}
			if n := rdb.Exists(ctx, turn).Val(); n != 0 {
				t.Fatalf("the turn is still held after its holder's commit")
			}

			// A checked key changed.
			check := ns.Account(acct, "checked")
			rdb.Set(ctx, check, "v1", 0)
			p = resolve(batches[2])
			p.check = []string{check, "v1"}
			rdb.Set(ctx, check, "v2", 0)
			if err := commit(ctx, acct, p); !errors.Is(err, errStaleCommit) {
				t.Fatalf("commit after a checked key changed: %v, want errStaleCommit", err)
			}

			// Nothing changed: it applies and bumps the version.
			p = resolve(batches[2])
			p.check = []string{check, "v2", ns.Account(acct, "missing"), ""}
			before = version()
			if err := commit(ctx, acct, p); err != nil {
				t.Fatalf("commit: %v", err)
			}
			if after := version(); after == before {
				t.Fatalf("write version %s unchanged by a commit", after)
			}

			// A check that cannot run fails the commit too.
			wrong := ns.Account(acct, "a-hash")
			rdb.HSet(ctx, wrong, "f", "v")
			p = resolve(batches[3])
			p.check = []string{wrong, ""}
			if err := commit(ctx, acct, p); err == nil || errors.Is(err, errStaleCommit) {
				t.Fatalf("commit whose check failed: %v, want its error", err)
			}

			// A command failing inside the transaction fails the commit.
			p = resolve(batches[3])
			p.cmds = append(p.cmds, []any{"INCR", check})
			if err := commit(ctx, acct, p); err == nil || errors.Is(err, errStaleCommit) {
				t.Fatalf("commit with a failing command: %v, want its error", err)
			}
		})
	}
}

// streamCommits sends ps, linked by links, on one commitStream without
// waiting, and returns their outcomes.
func streamCommits(ctx context.Context, s *Store, acct string, links []chainLink, ps ...*pending) ([]error, error) {
	cs, err := s.openStream(ctx, acct)
	if err != nil {
		return nil, err
	}
	defer cs.close()
	var gs []*flightGroup
	for i, p := range ps {
		g := &flightGroup{ps: []*pending{p}, link: links[i], done: make(chan error, 1)}
		cs.send(s.commitCommands(acct, g.link, g.ps), g)
		gs = append(gs, g)
	}
	errs := make([]error, len(gs))
	for i, g := range gs {
		errs[i] = <-g.done
	}
	return errs, nil
}

// TestLinkedCommits: commits sent one after the other on a commitStream
// apply in order, and one applies only if the one before it applied, even
// when a foreign write brought the write version to the value it expects.
func TestLinkedCommits(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{})
	ctx := context.Background()
	recs := bulkRecords()
	var fresh []Record
	for _, r := range recs[:200] {
		if !strings.HasPrefix(r.Values[0], "seed") && r.Values[0] != "" && r.Values[1] != "" {
			fresh = append(fresh, r)
		}
	}
	batches := inBatches(t, s, fresh, 40)
	version := func(acct string) int64 { v, _ := rdb.Get(ctx, s.keys.pver(acct)).Int64(); return v }
	chain := func(acct string, b1, b2 []prepared) (*pending, *pending) {
		t.Helper()
		pv := version(acct)
		seq, _ := rdb.Get(ctx, s.keys.seq(acct)).Int64()
		p1, err := s.resolveFresh(ctx, acct, b1, pv, seq, nil)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := s.resolveFresh(ctx, acct, b2, pv+1, p1.w.next, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p1, p2
	}
	// sendAll sends the commits on one stream without waiting and returns
	// their outcomes.
	sendAll := func(acct string, links []chainLink, ps ...*pending) []error {
		t.Helper()
		errs, err := streamCommits(ctx, s, acct, links, ps...)
		if err != nil {
			t.Fatal(err)
		}
		return errs
	}
	linked := []chainLink{{token: "t1"}, {token: "t2", after: "t1"}}

	// Sent together, both apply, in order.
	acct := "acct-" + redistest.RandomID()
	p1, p2 := chain(acct, batches[0], batches[1])
	if errs := sendAll(acct, linked, p1, p2); errs[0] != nil || errs[1] != nil {
		t.Fatalf("commits: %v", errs)
	}
	if n, _ := s.Count(ctx, acct); n != int64(len(batches[0])+len(batches[1])) || version(acct) != 2 {
		t.Fatalf("after both: %d profiles, version %d", n, version(acct))
	}

	// The first is stale, and the second expects the version the foreign
	// write leaves once the first aborted: the second must not apply.
	acct = "acct-" + redistest.RandomID()
	p1, p2 = chain(acct, batches[0], batches[1])
	rdb.Incr(ctx, s.keys.pver(acct)) // the foreign write
	errs := sendAll(acct, linked, p1, p2)
	if !errors.Is(errs[0], errStaleCommit) || !errors.Is(errs[1], errStaleCommit) {
		t.Fatalf("commits after a foreign write: %v, want errStaleCommit twice", errs)
	}
	if n, _ := s.Count(ctx, acct); n != 0 {
		t.Fatalf("%d profiles written by aborted commits", n)
	}

	// The one before never ran: the commit aborts.
	acct = "acct-" + redistest.RandomID()
	_, p2 = chain(acct, batches[0], batches[1])
	p2.pver = 0 // as if it were the first: only the owner check is left
	if errs := sendAll(acct, []chainLink{{token: "t2", after: "never"}}, p2); !errors.Is(errs[0], errStaleCommit) {
		t.Fatalf("commit after one that never ran: %v, want errStaleCommit", errs[0])
	}

	// A broken connection fails the commits, as errors, not as stale.
	acct = "acct-" + redistest.RandomID()
	p1, p2 = chain(acct, batches[0], batches[1])
	cs, err := s.openStream(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	_ = cs.conn.Close()
	g1 := &flightGroup{ps: []*pending{p1}, link: linked[0], done: make(chan error, 1)}
	g2 := &flightGroup{ps: []*pending{p2}, link: linked[1], done: make(chan error, 1)}
	cs.send(s.commitCommands(acct, g1.link, g1.ps), g1)
	cs.send(s.commitCommands(acct, g2.link, g2.ps), g2)
	for _, g := range []*flightGroup{g1, g2} {
		if err := <-g.done; err == nil || errors.Is(err, errStaleCommit) {
			t.Fatalf("commit on a closed connection: %v, want an error", err)
		}
	}
	cs.close()
}

// TestIndexSetCommands: one HSET per identity field and chunk, fields in
// first-seen order, each value with its id.
func TestIndexSetCommands(t *testing.T) {
	t.Parallel()
	k := keys{ns: "n"}
	sfx := []string{"email:a", "external_id:1", "email:b", "email:c", "external_id:2", "email:d", "email:e"}
	ids := []string{"10", "11", "12", "13", "14", "15", "16"}
	got := k.appendIndexSet([][]any{{"SET", "x", "1"}}, "acct", sfx, ids, 2)
	em, ex := k.index("acct", "email"), k.index("acct", "external_id")
	want := [][]any{{"SET", "x", "1"},
		{"HSET", em, "a", "10", "b", "12"}, {"HSET", em, "c", "13", "d", "15"}, {"HSET", em, "e", "16"},
		{"HSET", ex, "1", "11", "2", "14"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("commands:\n%v\nwant\n%v", got, want)
	}
	if got := k.appendIndexSet(nil, "acct", nil, nil, 2); got != nil {
		t.Fatalf("no suffixes: %v", got)
	}
}
