package profiles

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// A Bulk writes the records of one large import (a CSV file) into the
// profiles of one account, reading ahead. Preread looks the records up
// while they still arrive, writing nothing, and answers which are new:
// none of their identities is in the index, nor in an earlier record given
// to Preread. Upsert then writes the batches whose records are all new
// without reading anything, several per commit, and sends the next commit
// while one runs (see chainLink).
//
// Upsert returns once its records are prepared and handed to the Bulk's
// writer, a goroutine that the first Upsert starts (under its ctx) and that
// commits them while the caller goes on; Result.Applied counts the records
// written since the call before. Close waits for the rest. A write that
// fails stops the writer; the next Upsert or Close returns its error.
//
// Preread stops looking after prereadTrial records when most were known
// (a file imported again): the look-ups would then be made twice.
//
// Those answers hold only while nothing else writes the account's profiles
// (or its audience definitions) and the stream's mapping stays the same.
// Every commit checks the first (see commit), and Upsert the second; once
// either failed, a Bulk writes as Store.Upsert does, and the batches the
// failed commit held are written again that way.
//
// A Bulk is used by one goroutine at a time, its Preread calls before its
// Upsert calls.
type Bulk struct {
	s               *Store
	account, stream string
	mapping         string // fingerprint of the mapping Preread used
	seen            *bloom // identities of the records Preread saw
	started         bool   // Preread took its snapshot
	valid           bool   // the answers still hold
	// What the account holds after the Bulk's last commit (as Preread
	// first read it until then), while valid.
	pver, seq int64
	hookVals  []string
	// freshBatches counts the batches written without reading.
	freshBatches int
	// absent: identity fields without an index hash at the first
	// snapshot (see Preread).
	absent map[string]bool
	// tokenBase and tokens name its commits (nextToken).
	tokenBase string
	tokens    int
	// Preread's rows so far, and how many it found new.
	asked, found int
	// mappingChanged: an Upsert found the mapping unlike Preread's.
	mappingChanged atomic.Bool

	// The writer (see writer).
	batches  chan []prepared
	done     chan struct{}
	closed   bool
	err      error // the writer's outcome, once done is closed
	failed   atomic.Pointer[error]
	applied  atomic.Int64 // records written
	reported int64        // of which Upsert or Close told
}

// NewBulk returns a Bulk of records of stream into account's profiles.
func (s *Store) NewBulk(account, stream string) *Bulk {
	return &Bulk{s: s, account: account, stream: stream}
}

// prereadTrial is how many rows Preread looks up before it gives up on a
// file whose rows are mostly not new.
const prereadTrial = 5000

// nextToken names the Bulk's next commit of new records (see chainLink).
func (b *Bulk) nextToken() string {
	if b.tokenBase == "" {
		var r [8]byte
		_, _ = rand.Read(r[:])
		b.tokenBase = hex.EncodeToString(r[:])
	}
	b.tokens++
	return b.tokenBase + "." + strconv.Itoa(b.tokens)
}

// Preread looks records up without writing and returns, for each, whether
// it is new. Records that Upsert would reject for their identities are
// not; one it rejects for another field may be, and is not written. An
// error leaves the records not new; the Bulk still works.
func (b *Bulk) Preread(ctx context.Context, records []Record) ([]bool, error) {
	fresh := make([]bool, len(records))
	m, err := b.s.compiledMapping(ctx, b.account, b.stream)
	if err != nil {
		return fresh, err
	}
	if !b.started {
		b.mapping = m.fingerprint
		if st, ok := b.s.hook.(CreationSettler); ok {
			if err := st.SettleCreationKeys(ctx, b.account); err != nil {
				return fresh, fmt.Errorf("settling the creation keys of account %q: %w", b.account, err)
			}
		}
	} else if !b.valid || b.mapping != m.fingerprint {
		b.valid = false
		return fresh, nil
	}
	if b.seen == nil {
		b.seen = newBloom()
	}
	pr := m.newPreparer(b.s.opt.Now(), false)
	var candidates []int
	var suffixes []string
	var ends []int // candidates[k]'s suffixes end at ends[k]
	for i, r := range records {
		ids, ok := pr.identities(r)
		if !ok {
			continue
		}
		isNew := true
		for _, sfx := range ids {
			if b.seen.has(sfx) {
				isNew = false
			}
		}
		for _, sfx := range ids {
			b.seen.add(sfx)
		}
		if isNew {
			candidates = append(candidates, i)
			suffixes = append(suffixes, ids...)
			ends = append(ends, len(suffixes))
		}
	}
	// One snapshot: the version and the index entries as of one moment.
	var hookKeys []string
	if creation, ok := b.s.hook.(CreationHook); ok {
		hookKeys = creation.CreationKeys(b.account)
	}
	pipe := b.s.rdb.TxPipeline()
	verCmd := pipe.Get(ctx, b.s.keys.pver(b.account))
	seqCmd := pipe.Get(ctx, b.s.keys.seq(b.account))
	hookCmds := make([]*redis.StringCmd, len(hookKeys))
	for i, k := range hookKeys {
		hookCmds[i] = pipe.Get(ctx, k)
	}
	// Identity fields with no index hash at the first snapshot have none
	// while the write version holds (every index write bumps it): their
	// identities need no look-up. On an account's first import, that is
	// every field.
	var index func() ([]any, error)
	if len(suffixes) > 0 {
		index = b.s.keys.queueIndexGet(ctx, pipe, b.account, suffixes, b.absent)
	}
	var exists map[string]*redis.IntCmd
	if !b.started {
		exists = map[string]*redis.IntCmd{}
		for _, f := range m.idFields {
			exists[f] = pipe.Exists(ctx, b.s.keys.index(b.account, f))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		b.valid = false
		return fresh, fmt.Errorf("looking up %d identities of account %q: %w", len(suffixes), b.account, err)
	}
	pver, _ := strconv.ParseInt(verCmd.Val(), 10, 64)
	seq, _ := strconv.ParseInt(seqCmd.Val(), 10, 64)
	vals := make([]string, len(hookCmds))
	for i, c := range hookCmds {
		vals[i] = c.Val()
	}
	if !b.started {
		b.started, b.valid = true, true
		b.pver, b.seq, b.hookVals = pver, seq, vals
		b.absent = map[string]bool{}
		for f, c := range exists {
			b.absent[f] = c.Val() == 0
		}
	} else if pver != b.pver || !slices.Equal(vals, b.hookVals) {
		b.valid = false // another writer came in
	}
	if !b.valid {
		return fresh, nil
	}
	if index != nil {
		ids, err := index()
		if err != nil {
			b.valid = false
			return fresh, err
		}
		from := 0
		for k, i := range candidates {
			fresh[i] = !slices.ContainsFunc(ids[from:ends[k]], func(v any) bool { return v != nil })
			from = ends[k]
			if fresh[i] {
				b.found++
			}
		}
	}
	b.asked += len(records)
	if b.asked >= prereadTrial && b.found < b.asked/2 {
		// Mostly known rows (a file imported again): the look-ups would
		// only be made twice.
		b.valid = false
	}
	return fresh, nil
}

// Upsert is Store.Upsert for the Bulk's account and stream, except that it
// returns before the records are written (see Bulk); fresh holds Preread's
// answers for records (nil: none).
func (b *Bulk) Upsert(ctx context.Context, records []Record, fresh []bool) (Result, error) {
	if b.closed {
		return Result{}, errors.New("profiles: Upsert on a closed Bulk")
	}
	return b.s.upsert(ctx, b.account, b.stream, records, b, fresh)
}

// Close waits until every record handed to Upsert is written, or the
// writer failed, and returns how many records it wrote since the last
// Upsert returned, and the writer's error. It may be called more than once.
func (b *Bulk) Close() (applied int, err error) {
	if b.batches == nil {
		return 0, nil
	}
	if !b.closed {
		b.closed = true
		close(b.batches)
	}
	<-b.done
	return b.take(), b.err
}

// writer returns the channel of the Bulk's writer, starting it.
func (b *Bulk) writer(ctx context.Context) chan []prepared {
	if b.batches == nil {
		b.batches = make(chan []prepared, 4)
		b.done = make(chan struct{})
		go func() {
			defer close(b.done)
			_, b.err = b.s.applyAll(ctx, b.account, b.batches, b)
			if b.err != nil {
				b.fail(b.err)
			}
		}()
	}
	return b.batches
}

// take returns the records written since it was last called.
func (b *Bulk) take() int {
	n := b.applied.Load()
	d := n - b.reported
	b.reported = n
	return int(d)
}

func (b *Bulk) fail(err error) {
	if b != nil {
		b.failed.CompareAndSwap(nil, &err)
	}
}

// failure is the writer's first error, if it stopped.
func (b *Bulk) failure() error {
	if e := b.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// trusted tells whether Preread's answers still hold.
func (b *Bulk) trusted() bool {
	return b != nil && b.valid && !b.mappingChanged.Load()
}

// freshBatch tells whether batch can be written without reading.
func (b *Bulk) freshBatch(batch []prepared) bool {
	if !b.trusted() {
		return false
	}
	for _, p := range batch {
		if !p.fresh {
			return false
		}
	}
	return true
}

// bloom is a Bloom filter of identity suffixes: has may say yes for one it
// never saw (about two in a million), never no for one it did. It grows
// by parts of 8 MiB that each take bloomPartSize suffixes; past
// bloomParts parts it says yes to everything, so that the rest of a file
// of over a million rows is written as Store.Upsert writes and the
// worker's memory stays bounded (the heap may grow to three times the
// filter under the worker's GOGC of 200).
type bloom struct {
	seed  maphash.Seed
	parts []*bloomPart
	n     int // suffixes in the last part
}

const (
	bloomPartSize = 1_500_000
	bloomParts    = 2
)

// bloomPart is split in blocks of one cache line: one memory access per
// look-up.
type bloomPart [1 << 17][8]uint64

func newBloom() *bloom {
	return &bloom{seed: maphash.MakeSeed()}
}

// bits returns the block index of s and one bit in each of its eight words.
func (f *bloom) bits(s string) (uint64, [8]uint64) {
	h := maphash.String(f.seed, s)
	g := (h ^ h>>29) * 0xbf58476d1ce4e5b9 // other bits for the positions
	var mask [8]uint64
	for i := range mask {
		mask[i] = 1 << (g >> (6 * i) & 63)
	}
	return h % uint64(len(bloomPart{})), mask
}

func (f *bloom) add(s string) {
	if len(f.parts) == 0 || f.n == bloomPartSize {
		if len(f.parts) == bloomParts {
			return // full: has says yes from now on
		}
		f.parts = append(f.parts, new(bloomPart))
		f.n = 0
	}
	f.n++
	i, mask := f.bits(s)
	block := &f.parts[len(f.parts)-1][i]
	for w := range block {
		block[w] |= mask[w]
	}
}

func (f *bloom) has(s string) bool {
	if len(f.parts) == bloomParts && f.n == bloomPartSize {
		return true
	}
	i, mask := f.bits(s)
parts:
	for _, p := range f.parts {
		block := &p[i]
		for w := range block {
			if block[w]&mask[w] == 0 {
				continue parts
			}
		}
		return true
	}
	return false
}
