package profiles

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// bulkRecords is a file of CSV rows: mostly new people, some already
// stored (seedRecords), some repeated further down the file, some bad.
func bulkRecords() []Record {
	cols := []string{"email", "external_id", "city", "n"}
	var recs []Record
	for i := range 600 {
		email, ext := fmt.Sprintf("p%d@x.io", i), fmt.Sprintf("e%d", i)
		switch {
		case i%97 == 50:
			email = fmt.Sprintf("p%d@x.io", i-40) // the same person as a row before
		case i%89 == 7:
			email = fmt.Sprintf("seed%d@x.io", i%5) // a stored profile
		case i%151 == 3:
			email, ext = "", "" // no identity: rejected
		}
		recs = append(recs, Record{Columns: cols, Values: []string{email, ext, fmt.Sprintf("c%d", i%7), fmt.Sprint(i)},
			EventTime: txBase.Add(time.Duration(i%3) * time.Minute)})
	}
	return recs
}

func seedRecords() []Record {
	var recs []Record
	for i := range 5 {
		recs = append(recs, Record{Strings: map[string]string{"email": fmt.Sprintf("seed%d@x.io", i), "city": "seed"}, EventTime: txBase})
	}
	return recs
}

// preread looks recs up in chunks, as a file is staged.
func preread(t *testing.T, b *Bulk, recs []Record) []bool {
	t.Helper()
	var fresh []bool
	for from := 0; from < len(recs); from += 100 {
		f, err := b.Preread(context.Background(), recs[from:min(from+100, len(recs))])
		if err != nil {
			t.Fatalf("Preread: %v", err)
		}
		fresh = append(fresh, f...)
	}
	return fresh
}

// bulkImport prereads recs, then upserts them through b in other chunks,
// as a file is applied.
func bulkImport(t *testing.T, b *Bulk, recs []Record) Result {
	t.Helper()
	ctx := context.Background()
	fresh := preread(t, b, recs)
	var total Result
	for from := 0; from < len(recs); from += 250 {
		to := min(from+250, len(recs))
		res, err := b.Upsert(ctx, recs[from:to], fresh[from:to])
		if err != nil {
			t.Fatalf("Upsert: %v", err)
		}
		total.Applied += res.Applied
		total.Rejected = append(total.Rejected, res.Rejected...)
	}
	n, err := b.Close()
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	total.Applied += n
	return total
}

// createdLog is a CreationHook that lists the profiles created, in order,
// as the audiences hook sets their bits.
type createdLog struct{ ns string }

func (h createdLog) CreationKeys(account string) []string { return []string{h.ns + account + ":defs"} }

func (h createdLog) CreatedWrites(_ context.Context, account string, _ []string, created []*Profile) ([][]any, error) {
	cmd := []any{"RPUSH", h.ns + account + ":created"}
	for _, p := range created {
		cmd = append(cmd, p.ID+"="+strings.Join(p.Identities["email"], ","))
	}
	return [][]any{cmd}, nil
}

func (createdLog) ProfilesChanged(context.Context, string, []Change) error { return nil }

// TestBulkWritesNewRecordsWithoutReadingAsUpsertWould: a Bulk import gives
// the same profiles, identity index, counts and creation hook writes as
// Store.Upsert of the same records, and it did write batches of new
// records without reading them.
func TestBulkWritesNewRecordsWithoutReadingAsUpsertWould(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	// A ring (a client redispipe cannot reproduce) on the same server: the
	// Bulk commits one at a time instead of on a commitStream.
	opt := rdb.Options()
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"one": opt.Addr}, DB: opt.DB,
		Username: opt.Username, Password: opt.Password})
	t.Cleanup(func() { ring.Close() })
	for _, c := range []struct {
		name   string
		client redis.UniversalClient
		linked bool
	}{{"stream", rdb, true}, {"one at a time", ring, false}} {
		t.Run(c.name, func(t *testing.T) {
			hook := createdLog{ns: ns.Account("hook") + ":"}
			s := New(c.client, ns, hook, Options{BatchSize: 20})
			ctx := context.Background()
			plain, bulk := "plain-"+redistest.RandomID(), "bulk-"+redistest.RandomID()
			for _, acct := range []string{plain, bulk} {
				if _, err := s.Upsert(ctx, acct, "web", seedRecords()); err != nil {
					t.Fatal(err)
				}
			}
			recs := bulkRecords()
			want, err := s.Upsert(ctx, plain, "web", recs)
			if err != nil {
				t.Fatal(err)
			}
			b := s.NewBulk(bulk, "web")
			got := bulkImport(t, b, recs)
			if got.Applied != want.Applied || len(got.Rejected) != len(want.Rejected) || want.Applied != len(recs)-4 {
				t.Fatalf("bulk applied %d, rejected %d; Upsert applied %d, rejected %d (of %d)", got.Applied, len(got.Rejected), want.Applied, len(want.Rejected), len(recs))
			}
			if !b.trusted() || b.freshBatches < 10 {
				t.Errorf("bulk trusted %v, %d batches written without reading; want it trusted, most batches", b.trusted(), b.freshBatches)
			}
			if linked := b.tokens >= 3; linked != c.linked {
				t.Errorf("%d commits linked on a stream, want several: %v", b.tokens, c.linked)
			}
			sameSnapshots(t, "bulk", takeSnapshot(t, s, rdb, bulk), takeSnapshot(t, s, rdb, plain))
			createdBulk := rdb.LRange(ctx, hook.ns+bulk+":created", 0, -1).Val()
			createdPlain := rdb.LRange(ctx, hook.ns+plain+":created", 0, -1).Val()
			if !slices.Equal(createdBulk, createdPlain) || len(createdPlain) < 500 {
				t.Errorf("creation hook: bulk %d profiles, Upsert %d; they differ", len(createdBulk), len(createdPlain))
			}
		})
	}
}

// TestBulkStopsTrustingPrereadAfterAnotherWrite: a profile written by
// someone else between Preread and Upsert, with an identity Preread found
// new, is merged into, not duplicated; a changed mapping or audience
// definitions stop the Bulk trusting its answers too.
func TestBulkStopsTrustingPrereadAfterAnotherWrite(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	hook := createdLog{ns: ns.Account("hook") + ":"}
	s := New(rdb, ns, hook, Options{BatchSize: 20, MappingTTL: time.Nanosecond})
	ctx := context.Background()
	recs := bulkRecords()
	for _, between := range []struct {
		name  string
		write func(acct string)
	}{
		{"another writer", func(acct string) {
			if _, err := s.Upsert(ctx, acct, "web", []Record{{Strings: map[string]string{"email": "p300@x.io", "city": "elsewhere"}, EventTime: txBase}}); err != nil {
				t.Fatal(err)
			}
		}},
		{"mapping", func(acct string) {
			m := Mapping{Stream: "web", Fields: []FieldMapping{{Source: "email", Field: "email", Identity: true}, {Source: "external_id", Field: "external_id", Identity: true}, {Source: "n", Field: "n", Type: TypeNumber}}}
			if err := s.SetMapping(ctx, acct, "web", m); err != nil {
				t.Fatal(err)
			}
		}},
		{"audience definitions", func(acct string) { rdb.Set(ctx, hook.ns+acct+":defs", "2", 0) }},
	} {
		acct := "acct-" + redistest.RandomID()
		b := s.NewBulk(acct, "web")
		fresh := preread(t, b, recs)
		if !fresh[300] {
			t.Fatalf("%s: row 300 not found new", between.name)
		}
		between.write(acct)
		if _, err := b.Upsert(ctx, recs, fresh); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if b.trusted() {
			t.Errorf("%s: the bulk still trusts its answers", between.name)
		}
		checkIndex(t, takeSnapshot(t, s, rdb, acct))
		if between.name == "another writer" {
			p, err := s.Lookup(ctx, acct, "email", "p300@x.io")
			if err != nil || p.ID != "1" || p.Fields["n"] != "300" || p.Fields["city"] != "c6" {
				t.Errorf("p300: %+v %v; want the stored profile with the file's fields", p, err)
			}
		}
	}
}

// TestBulkWithConcurrentWritersKeepsTheIndexConsistent runs Bulk imports
// while other Upserts write the same identities, so that commits of new
// records go stale in flight; every identity must then point at one live
// profile that lists it.
func TestBulkWithConcurrentWritersKeepsTheIndexConsistent(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{BatchSize: 5})
	ctx := context.Background()
	recs := bulkRecords()
	for round := range 4 {
		acct := fmt.Sprintf("acct-%d-%s", round, redistest.RandomID())
		b := s.NewBulk(acct, "web")
		fresh := preread(t, b, recs)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := len(recs) - 1; i >= 0; i -= 3 + round {
				if _, err := s.Upsert(ctx, acct, "web", recs[i:i+1]); err != nil {
					t.Errorf("Upsert: %v", err)
				}
			}
		}()
		if _, err := b.Upsert(ctx, recs, fresh); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		t.Logf("round %d: %d batches without reading, still trusted %v", round, b.freshBatches, b.trusted())
		checkIndex(t, takeSnapshot(t, s, rdb, acct))
	}
}

// checkIndex fails when an identity does not point at one live profile
// that lists it, or a profile lists an identity that points elsewhere.
func checkIndex(t *testing.T, snap snapshot) {
	t.Helper()
	if int64(len(snap.profiles)) != snap.count {
		t.Errorf("Count = %d, but %d profiles are stored", snap.count, len(snap.profiles))
	}
	for sfx, id := range snap.index {
		p, ok := snap.profiles[id]
		field, value, _ := strings.Cut(sfx, ":")
		if !ok {
			t.Errorf("identity %s points at profile %s, which is gone", sfx, id)
		} else if !slices.Contains(p.Identities[field], value) {
			t.Errorf("identity %s points at profile %s, which does not list it: %v", sfx, id, p.Identities)
		}
	}
	for id, p := range snap.profiles {
		for field, values := range p.Identities {
			for _, v := range values {
				if got := snap.index[field+":"+v]; got != id {
					t.Errorf("profile %s lists %s:%s, which points at %q", id, field, v, got)
				}
			}
		}
	}
}

// TestBulkReportsAFailedWrite: a write that fails stops the Bulk's writer,
// and Close (or the next Upsert) returns its error.
func TestBulkReportsAFailedWrite(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{BatchSize: 20})
	ctx := context.Background()
	acct := "acct-" + redistest.RandomID()
	recs := bulkRecords()
	b := s.NewBulk(acct, "web")
	fresh, err := b.Preread(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"email", "external_id"} {
		rdb.Set(ctx, s.keys.index(acct, f), "not a hash", 0) // every index write fails
	}
	var upsertErr error
	for from := 0; from < len(recs) && upsertErr == nil; from += 100 {
		_, upsertErr = b.Upsert(ctx, recs[from:from+100], fresh[from:from+100])
	}
	_, closeErr := b.Close()
	if closeErr == nil || !strings.Contains(closeErr.Error(), "WRONGTYPE") {
		t.Fatalf("Close = %v, want the failed write's error", closeErr)
	}
	if upsertErr != nil && !strings.Contains(upsertErr.Error(), "WRONGTYPE") {
		t.Errorf("Upsert = %v", upsertErr)
	}
	if _, err := b.Upsert(ctx, recs[:1], nil); err == nil {
		t.Error("Upsert after Close: no error")
	}
}

func TestBloomNeverForgetsAndRarelyImagines(t *testing.T) {
	t.Parallel()
	f := newBloom()
	const n = bloomPartSize + 100_000 // two parts
	for i := range n {
		f.add(fmt.Sprintf("email:u%d@x.io", i))
	}
	for i := range n {
		if !f.has(fmt.Sprintf("email:u%d@x.io", i)) {
			t.Fatalf("forgot u%d", i)
		}
	}
	imagined := 0
	for i := range 300_000 {
		if f.has(fmt.Sprintf("email:other%d@x.io", i)) {
			imagined++
		}
	}
	t.Logf("%d false positives in 300,000 after %d entries", imagined, n)
	if len(f.parts) != 2 || imagined > 10 { // about 2 expected
		t.Errorf("%d parts, %d false positives in 300,000", len(f.parts), imagined)
	}
	for range bloomPartSize - 100_000 {
		f.add("email:filler")
	}
	if !f.has("email:never@x.io") {
		t.Error("a full filter must say yes to everything")
	}
}

// TestIdentitiesAsPrepareFindsThem: Preread's identities-only look at a
// row finds what prepare does, and refuses what prepare refuses for its
// identities.
func TestIdentitiesAsPrepareFindsThem(t *testing.T) {
	t.Parallel()
	pr := compile(builtinMapping(BrazeUsersStream)).newPreparer(txBase, true)
	cols := []string{"Braze ID", "email", "user_id", "session_count", "Appboy ID"}
	rows := [][]string{
		{"b1", " A@X.io ", "u1", "3", ""},
		{"b1", "a@x.io", "", "three", "b2"}, // a bad number: prepare refuses, identities need not
		{"", "", "", "4", ""},               // no identity
		{"b\nx", "", "", "", ""},            // a line break
		{strings.Repeat("b", 600), "", "", "", ""},
		{"b1", "", "u1", "", "b1"},
	}
	for _, vals := range rows {
		rec := Record{Columns: cols, Values: vals, EventTime: txBase}
		ids, ok := pr.identities(rec)
		p, err := pr.prepare(rec)
		switch {
		case err == nil && (!ok || !slices.Equal(ids, p.ids)):
			t.Errorf("%q: identities %q %v, prepare %q", vals, ids, ok, p.ids)
		case err != nil && ok && !strings.Contains(err.Error(), "session_count"):
			t.Errorf("%q: identities %q, but prepare refuses: %v", vals, ids, err)
		}
	}
}

// TestPrereadGivesUpOnKnownRows: a file imported again finds its rows
// known; Preread stops looking them up after a trial, and the import is
// written the usual way.
func TestPrereadGivesUpOnKnownRows(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{BatchSize: 50})
	acct := "acct-" + redistest.RandomID()
	var recs []Record
	for range 10 {
		recs = append(recs, bulkRecords()...) // 6,000 rows, 600 people
	}
	bulkImport(t, s.NewBulk(acct, "web"), recs[:600])
	before := takeSnapshot(t, s, rdb, acct)
	b := s.NewBulk(acct, "web")
	res := bulkImport(t, b, recs)
	if b.trusted() || b.asked != prereadTrial {
		t.Errorf("trusted %v after %d rows looked up; want it to give up after %d", b.trusted(), b.asked, prereadTrial)
	}
	if res.Applied != len(recs)-40 || len(res.Rejected) != 40 {
		t.Errorf("applied %d, rejected %d of %d", res.Applied, len(res.Rejected), len(recs))
	}
	if after := takeSnapshot(t, s, rdb, acct); after.count != before.count {
		t.Errorf("%d profiles after importing the same rows again, %d before", after.count, before.count)
	}
}

// hmgetCounter counts the HMGETs a client sends, in pipelines too.
type hmgetCounter struct{ n atomic.Int64 }

func (h *hmgetCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *hmgetCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "hmget" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *hmgetCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "hmget" {
				h.n.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}

// TestBulkLooksUpOnlyFieldsThatHaveAnIndex: identity fields with no index
// hash at the first look-up are not looked up again while nothing else
// writes (an account's first import), and the answers stay those of full
// look-ups.
func TestBulkLooksUpOnlyFieldsThatHaveAnIndex(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	counter := &hmgetCounter{}
	rdb.AddHook(counter)
	s := New(rdb, ns, nil, Options{BatchSize: 20})
	ctx := context.Background()
	recs := bulkRecords()
	chunks := int64((len(recs) + 99) / 100)
	// fullAnswers are the answers of a Bulk that looks every field up.
	fullAnswers := func(acct string) []bool {
		m, err := s.compiledMapping(ctx, acct, "web")
		if err != nil {
			t.Fatal(err)
		}
		full := s.NewBulk(acct, "web")
		full.started, full.valid, full.mapping = true, true, m.fingerprint
		full.pver, _ = rdb.Get(ctx, s.keys.pver(acct)).Int64()
		full.seq, _ = rdb.Get(ctx, s.keys.seq(acct)).Int64()
		defer full.Close()
		return preread(t, full, recs)
	}

	for _, seeded := range []bool{false, true} {
		acct := "acct-" + redistest.RandomID()
		// Seeded: emails are indexed, external ids are not.
		want := int64(2) // a new account: the first chunk's two fields only
		if seeded {
			if _, err := s.Upsert(ctx, acct, "web", seedRecords()); err != nil {
				t.Fatal(err)
			}
			want = chunks + 1 // emails in every chunk, external ids in the first
		}
		counter.n.Store(0)
		b := s.NewBulk(acct, "web")
		got := preread(t, b, recs)
		if n := counter.n.Load(); n != want {
			t.Errorf("seeded %v: %d HMGETs for %d chunks, want %d", seeded, n, chunks, want)
		}
		_, _ = b.Close()
		if full := fullAnswers(acct); !slices.Equal(got, full) {
			t.Errorf("seeded %v: answers differ from full look-ups", seeded)
		}
		if !slices.Contains(got, true) || !slices.Contains(got, false) {
			t.Errorf("seeded %v: answers all the same: %v", seeded, got)
		}
	}
}

// lazyDefs is a CreationHook whose CreationKeys value is created on first
// use, as audiences creates an account's built-in definitions when it
// first loads them: a batch that read it before then is stale.
type lazyDefs struct {
	createdLog
	rdb *redis.Client
}

func (h lazyDefs) CreatedWrites(ctx context.Context, account string, vals []string, created []*Profile) ([][]any, error) {
	h.rdb.SetNX(ctx, h.CreationKeys(account)[0], "1", 0)
	if vals[0] != "1" {
		return nil, ErrStale
	}
	return h.createdLog.CreatedWrites(ctx, account, vals, created)
}

// settlingDefs is lazyDefs with SettleCreationKeys.
type settlingDefs struct{ lazyDefs }

func (h settlingDefs) SettleCreationKeys(ctx context.Context, account string) error {
	return h.rdb.SetNX(ctx, h.CreationKeys(account)[0], "1", 0).Err()
}

// TestBulkSettlesCreationKeysFirst: on an account's first import, a hook
// whose keys are created on first use keeps the Bulk's trust only when it
// settles them before the first look-up (CreationSettler).
func TestBulkSettlesCreationKeysFirst(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	lazy := lazyDefs{createdLog: createdLog{ns: ns.Account("hook") + ":"}, rdb: rdb}
	for _, settles := range []bool{false, true} {
		var hook ChangeHook = lazy
		if settles {
			hook = settlingDefs{lazy}
		}
		s := New(rdb, ns, hook, Options{BatchSize: 20})
		b := s.NewBulk("acct-"+redistest.RandomID(), "web")
		res := bulkImport(t, b, bulkRecords())
		if res.Applied != len(bulkRecords())-4 {
			t.Fatalf("settles %v: applied %d", settles, res.Applied)
		}
		if trusted := b.trusted() && b.freshBatches >= 10; trusted != settles {
			t.Errorf("settles %v: trusted %v with %d batches written without reading", settles, b.trusted(), b.freshBatches)
		}
	}
}

// TestBulkOnRedisCluster: a Bulk import on a three-node cluster writes its
// new records without reading, with linked commits in flight (BLPOP and
// the owner check on one node), and gives what Store.Upsert gives.
func TestBulkOnRedisCluster(t *testing.T) {
	t.Parallel()
	rdb := redistest.Cluster(t, 3)
	s := New(rdb, keyspace.Namespace("t"+redistest.RandomID()), nil, Options{BatchSize: 20})
	ctx := context.Background()
	recs := bulkRecords()
	plain, bulk := "plain", "bulk"
	want, err := s.Upsert(ctx, plain, "web", recs)
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBulk(bulk, "web")
	got := bulkImport(t, b, recs)
	if got.Applied != want.Applied || len(got.Rejected) != len(want.Rejected) {
		t.Fatalf("bulk applied %d, rejected %d; Upsert %d, %d", got.Applied, len(got.Rejected), want.Applied, len(want.Rejected))
	}
	if !b.trusted() || b.freshBatches < 10 || b.tokens < 3 {
		t.Errorf("trusted %v, %d batches without reading, %d commits linked; want trusted, most batches, several commits", b.trusted(), b.freshBatches, b.tokens)
	}
	np, _ := s.Count(ctx, plain)
	nb, _ := s.Count(ctx, bulk)
	if np != nb || np == 0 {
		t.Errorf("profiles: bulk %d, Upsert %d", nb, np)
	}
	for _, r := range recs[:50] {
		email := r.Values[0]
		if email == "" {
			continue
		}
		p1, err1 := s.Lookup(ctx, plain, "email", email)
		p2, err2 := s.Lookup(ctx, bulk, "email", email)
		if err1 != nil || err2 != nil || p1.Fields["city"] != p2.Fields["city"] || p1.Fields["n"] != p2.Fields["n"] {
			t.Fatalf("%s: Upsert %+v %v, bulk %+v %v", email, p1, err1, p2, err2)
		}
	}
}
