package audiences_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// fakeProfiles is an in-memory profiles store for the audiences tests.
type fakeProfiles struct {
	mu    sync.Mutex
	next  int
	byID  map[string]*profiles.Profile
	index map[string]string // field + "\x00" + value -> id
	now   func() time.Time
}

func newFakeProfiles(now func() time.Time) *fakeProfiles {
	return &fakeProfiles{byID: map[string]*profiles.Profile{}, index: map[string]string{}, now: now}
}

// put stores p (assigning an id if empty) and returns the change to report.
func (f *fakeProfiles) put(p profiles.Profile) profiles.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.ID == "" {
		f.next++
		p.ID = strconv.Itoa(f.next)
	}
	for field, vals := range p.Identities {
		for _, v := range vals {
			f.index[field+"\x00"+v] = p.ID
		}
	}
	cp := p
	f.byID[p.ID] = &cp
	return profiles.Change{ProfileID: p.ID, Profile: &cp}
}

func (f *fakeProfiles) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byID, id)
}

func (f *fakeProfiles) Resolve(_ context.Context, _ string, ids map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for field, v := range ids {
		if id, ok := f.index[field+"\x00"+v]; ok {
			if _, live := f.byID[id]; live {
				return id, nil
			}
		}
	}
	return "", profiles.ErrNotFound
}

// Upsert creates a profile per record; only email and external_id are
// identities, as in a stream mapping.
func (f *fakeProfiles) Upsert(_ context.Context, _, _ string, recs []profiles.Record) (profiles.Result, error) {
	var res profiles.Result
	for i, r := range recs {
		p := profiles.Profile{Identities: map[string][]string{}, FirstSeen: f.now(), LastSeen: f.now()}
		for field, v := range r.Fields {
			if field == "email" || field == "external_id" {
				p.Identities[field] = []string{v.(string)}
			}
		}
		if len(p.Identities) == 0 {
			res.Rejected = append(res.Rejected, profiles.Rejection{Index: i, Reason: "no identity"})
			continue
		}
		f.put(p)
		res.Applied++
	}
	return res, nil
}

func (f *fakeProfiles) lookup(field, value string) string {
	id, _ := f.Resolve(context.Background(), "", map[string]string{field: value})
	return id
}

func (f *fakeProfiles) Scan(_ context.Context, _, cursor string, count int) ([]profiles.Profile, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.byID))
	after, _ := strconv.Atoi(cursor)
	for id := range f.byID {
		if n, _ := strconv.Atoi(id); n > after {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		a, _ := strconv.Atoi(ids[i])
		b, _ := strconv.Atoi(ids[j])
		return a < b
	})
	next := ""
	if len(ids) > count {
		ids = ids[:count]
		next = ids[count-1]
	}
	out := make([]profiles.Profile, len(ids))
	for i, id := range ids {
		out[i] = *f.byID[id]
	}
	return out, next, nil
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type bundle struct {
	rdb      *redis.Client
	ns       keyspace.Namespace
	clock    *testClock
	profiles *fakeProfiles
	log      *changelog.Log
}

const acct = "acct-1"

func setup(t testing.TB, chunk int) (*audiences.Service, *bundle) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	clock := &testClock{t: time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)}
	fp := newFakeProfiles(clock.Now)
	svc := audiences.New(rdb, ns, fp, audiences.Options{Clock: clock.Now, ChunkSize: chunk})
	return svc, &bundle{rdb: rdb, ns: ns, clock: clock, profiles: fp, log: changelog.New(rdb, ns, changelog.Options{Clock: clock.Now})}
}

// entries returns the whole change log of the account as "op slug profile".
func (b *bundle) entries(t testing.TB) []string {
	t.Helper()
	es, err := b.log.Range(context.Background(), acct, "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s %s %s", e.Op, e.Audience, e.ProfileID)
	}
	return out
}
