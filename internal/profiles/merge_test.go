package profiles

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

var txBase = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// collidingRecords are records full of identity collisions, merges and
// ties: 60 emails, 60 external ids and 40 Braze ids among 483 records, and
// two event times. The first three make a merge whose two profiles hold one
// field at the same event time (the survivor's value stays).
func collidingRecords() []Record {
	rng := rand.New(rand.NewPCG(7, 11))
	recs := []Record{
		{Fields: map[string]any{"email": "tie@x.io", "city": "Oslo"}, EventTime: txBase.Add(time.Hour)},
		{Fields: map[string]any{"external_id": "tie", "city": "Rome"}, EventTime: txBase.Add(time.Hour)},
		{Fields: map[string]any{"email": "tie@x.io", "external_id": "tie"}, EventTime: txBase},
	}
	for r := range 480 {
		f := map[string]any{"n": float64(r), "city": fmt.Sprintf("c%d", rng.IntN(50)), "z": fmt.Sprintf("z%d", rng.IntN(50))}
		if rng.IntN(3) > 0 {
			f["email"] = fmt.Sprintf("u%d@x.io", rng.IntN(60))
		}
		if rng.IntN(3) == 0 || f["email"] == nil {
			f["external_id"] = fmt.Sprintf("e%d", rng.IntN(60))
		}
		if rng.IntN(4) == 0 {
			f["braze_id"] = fmt.Sprintf("b%d", rng.IntN(40))
		}
		recs = append(recs, Record{Fields: f, EventTime: txBase.Add(time.Duration(rng.IntN(2)) * time.Minute)})
	}
	return recs
}

// inBatches prepares records in batches of the given size.
func inBatches(t *testing.T, s *Store, recs []Record, size int) [][]prepared {
	t.Helper()
	m, err := s.compiledMapping(context.Background(), "any", "web")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]prepared
	for from := 0; from < len(recs); from += size {
		var b []prepared
		for _, r := range recs[from:min(from+size, len(recs))] {
			p, err := m.newPreparer(txBase, true).prepare(r)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, p)
		}
		out = append(out, b)
	}
	return out
}

type snapshot struct {
	profiles map[string]Profile
	index    map[string]string
	count    int64
}

func takeSnapshot(t *testing.T, s *Store, rdb *redis.Client, acct string) snapshot {
	t.Helper()
	ctx := context.Background()
	ps, next, err := s.Scan(ctx, acct, "", 100000)
	if err != nil || next != "" {
		t.Fatalf("Scan: %v %q", err, next)
	}
	snap := snapshot{profiles: map[string]Profile{}}
	for _, p := range ps {
		snap.profiles[p.ID] = p
	}
	snap.index = indexEntries(t, s, rdb, acct)
	if snap.count, err = s.Count(ctx, acct); err != nil {
		t.Fatal(err)
	}
	return snap
}

// indexEntries reads the account's whole identity index as suffix -> id.
func indexEntries(t *testing.T, s *Store, rdb *redis.Client, acct string) map[string]string {
	t.Helper()
	ctx := context.Background()
	prefix := s.keys.index(acct, "")
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		h, err := rdb.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for v, id := range h {
			out[identitySuffix(strings.TrimPrefix(k, prefix), v)] = id
		}
	}
	return out
}

func sameSnapshots(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	if got.count != want.count || got.count == 0 {
		t.Errorf("%s: Count %d, want %d", what, got.count, want.count)
	}
	if !reflect.DeepEqual(got.index, want.index) {
		t.Errorf("%s: identity index differs:\n%v\nwant %v", what, got.index, want.index)
	}
	for id, p := range got.profiles {
		if !reflect.DeepEqual(p, want.profiles[id]) {
			t.Errorf("%s: profile %s differs:\n%+v\nwant %+v", what, id, p, want.profiles[id])
		}
	}
	if len(got.profiles) != len(want.profiles) {
		t.Errorf("%s: %d profiles, want %d", what, len(got.profiles), len(want.profiles))
	}
}

// model applies records one at a time as the merge rules (merge.go) state
// them, with no batch, read-ahead or commit: the outcome every write path
// must give. It is the rules' specification, kept deliberately naive.
type model struct {
	next     int64
	gone     int64
	profiles map[int64]*modelProfile
	index    map[string]int64
}

type modelProfile struct {
	fs, ls int64
	ids    []string
	data   map[string]string // field -> "<ms>|<code><text>"
}

func newModel() *model {
	return &model{profiles: map[int64]*modelProfile{}, index: map[string]int64{}}
}

// newer copies the values of src into dst that are newer, or as new when
// ties go to src.
func newer(dst, src map[string]string, tiesToSrc bool) {
	for k, v := range src {
		cur, ok := dst[k]
		if !ok || storedTime(v) > storedTime(cur) || (tiesToSrc && storedTime(v) == storedTime(cur)) {
			dst[k] = v
		}
	}
}

func (m *model) apply(rec prepared) {
	var named []int64
	for _, sfx := range rec.ids {
		if id, ok := m.index[sfx]; ok && !slices.Contains(named, id) {
			named = append(named, id)
		}
	}
	data := decodeData(rec.data, rec.ts)
	if len(named) == 0 {
		m.next++
		m.profiles[m.next] = &modelProfile{fs: rec.ts, ls: rec.ts, ids: slices.Clone(rec.ids), data: data}
		for _, sfx := range rec.ids {
			m.index[sfx] = m.next
		}
		return
	}
	slices.Sort(named)
	sid := named[0] // the oldest survives
	s := m.profiles[sid]
	for _, lid := range named[1:] {
		l := m.profiles[lid]
		newer(s.data, l.data, false)
		s.fs, s.ls = min(s.fs, l.fs), max(s.ls, l.ls)
		s.ids = append(s.ids, l.ids...)
		for _, sfx := range l.ids {
			m.index[sfx] = sid
		}
		delete(m.profiles, lid)
		m.gone++
	}
	for _, sfx := range rec.ids {
		if _, ok := m.index[sfx]; !ok {
			m.index[sfx] = sid
			s.ids = append(s.ids, sfx)
		}
	}
	s.fs, s.ls = min(s.fs, rec.ts), max(s.ls, rec.ts)
	newer(s.data, data, true)
}

func (m *model) snapshot() snapshot {
	snap := snapshot{profiles: map[string]Profile{}, index: map[string]string{}, count: m.next - m.gone}
	for id, p := range m.profiles {
		sid := strconv.FormatInt(id, 10)
		st := profileState{id: sid, fs: p.fs, ls: p.ls, ids: p.ids, data: p.data}
		snap.profiles[sid] = *st.profile(true)
	}
	for sfx, id := range m.index {
		snap.index[sfx] = strconv.FormatInt(id, 10)
	}
	return snap
}

// TestWritePathsFollowTheMergeRules applies the same records every way a
// write can go: one batch at a time through the optimistic commit, through
// Upsert (whose batches are resolved while the previous one commits,
// against what it writes), through a Bulk (whose batches of new records are
// resolved without reading and committed linked on a commitStream), and one
// batch at a time under the write turn (the path of a batch that lost its
// races). Each must give the profiles, identity index and counts of the
// rules applied one record at a time (model). The records are full of
// collisions, or a file of mostly new people.
func TestWritePathsFollowTheMergeRules(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{BatchSize: 40})
	ctx := context.Background()
	for _, set := range []struct {
		name string
		recs []Record
	}{{"colliding", collidingRecords()}, {"file", append(seedRecords(), bulkRecords()...)}} {
		recs := valid(t, s, set.recs)
		batches := inBatches(t, s, recs, 40)
		m := newModel()
		for _, b := range batches {
			for _, rec := range b {
				m.apply(rec)
			}
		}
		want := m.snapshot()
		if set.name == "colliding" {
			if want.count >= 100 {
				t.Fatalf("Count = %d: the records should have merged profiles", want.count)
			}
			if p := want.profiles["1"]; p.Fields["city"] != "Oslo" {
				t.Fatalf("city after a tie = %v, want the survivor's Oslo", p.Fields["city"])
			}
		}
		paths := []struct {
			name  string
			write func(acct string)
		}{
			{"one batch at a time", func(acct string) {
				for _, b := range batches {
					if _, err := s.writeBatchTx(ctx, acct, b, ""); err != nil {
						t.Fatalf("writeBatchTx: %v", err)
					}
				}
			}},
			{"Upsert", func(acct string) {
				if res, err := s.Upsert(ctx, acct, "web", recs); err != nil || res.Applied != len(recs) {
					t.Fatalf("Upsert = %+v, %v", res, err)
				}
			}},
			{"Bulk", func(acct string) {
				b := s.NewBulk(acct, "web")
				if res := bulkImport(t, b, recs); res.Applied != len(recs) {
					t.Fatalf("Bulk applied %d of %d", res.Applied, len(recs))
				}
				if set.name == "file" && b.freshBatches < 5 {
					t.Errorf("Bulk wrote %d batches of new records without reading, want most", b.freshBatches)
				}
			}},
			{"under the write turn", func(acct string) {
				for _, b := range batches {
					if _, err := s.writeInTurn(ctx, acct, b); err != nil {
						t.Fatalf("writeInTurn: %v", err)
					}
				}
			}},
		}
		for _, path := range paths {
			acct := "acct-" + redistest.RandomID()
			path.write(acct)
			sameSnapshots(t, set.name+", "+path.name, takeSnapshot(t, s, rdb, acct), want)
		}
	}
}

// valid returns the records that Upsert would not reject.
func valid(t *testing.T, s *Store, recs []Record) []Record {
	t.Helper()
	rej, err := s.Check(context.Background(), "any", "web", recs)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for i, r := range recs {
		if !slices.ContainsFunc(rej, func(x Rejection) bool { return x.Index == i }) {
			out = append(out, r)
		}
	}
	return out
}

// TestConcurrentWritersKeepTheIndexConsistent runs Upserts of colliding
// records from several goroutines into one account, in small batches, so
// that commits go stale and batches are resolved again or taken under the
// write turn; every identity must then point at one live profile that lists it,
// and every profile's identities must point back at it.
func TestConcurrentWritersKeepTheIndexConsistent(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{BatchSize: 7})
	ctx := context.Background()
	acct := "acct-" + redistest.RandomID()
	recs := collidingRecords()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := append([]Record(nil), recs[g*40:]...)
			if _, err := s.Upsert(ctx, acct, "web", part); err != nil {
				t.Errorf("Upsert: %v", err)
			}
		}()
	}
	wg.Wait()
	checkIndex(t, takeSnapshot(t, s, rdb, acct))
}
