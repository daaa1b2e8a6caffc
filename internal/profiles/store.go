package profiles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/store"
	"github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	BatchSizeDefault   = 500
	ParallelDefault    = 1
	MappingTTLDefault  = 2 * time.Second
	maxScriptArguments = 400_000
	maxBatchBytes      = 16 << 20
)

// ErrNotFound is returned when no profile matches.
var ErrNotFound = errors.New("profile not found")

// Options tune a Store. The zero value uses the defaults.
type Options struct {
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// BatchSize is the number of records applied by one script call
	// (default BatchSizeDefault).
	BatchSize int
	// Parallel is the number of script calls one Upsert keeps in flight
	// (default ParallelDefault, 1). With 1, batches apply in record order, so
	// of two records with the same event time the later one wins; the next
	// batch is still prepared while one is applied. More than 1 gives up that
	// order for throughput.
	Parallel int
	// MappingTTL is how long a stream mapping read from Redis is cached in
	// this process (default MappingTTLDefault). A changed mapping takes
	// effect everywhere within it.
	MappingTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = BatchSizeDefault
	}
	if o.Parallel <= 0 {
		o.Parallel = ParallelDefault
	}
	if o.MappingTTL <= 0 {
		o.MappingTTL = MappingTTLDefault
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store keeps the profiles of every account in Redis.
type Store struct {
	rdb  redis.UniversalClient
	keys keys
	hook ChangeHook
	opt  Options
	log  *slog.Logger

	mu       sync.Mutex
	mappings map[string]cachedMapping
}

type cachedMapping struct {
	m       *compiledMapping
	expires time.Time
}

// New returns a Store. hook, when not nil, is told about every change after
// it is stored; it may be called concurrently.
func New(rdb redis.UniversalClient, ns store.Namespace, hook ChangeHook, opts Options) *Store {
	opts = opts.withDefaults()
	return &Store{
		rdb:      rdb,
		keys:     keys{ns: ns},
		hook:     hook,
		opt:      opts,
		log:      opts.Logger.With("component", "profiles"),
		mappings: map[string]cachedMapping{},
	}
}

// Rejection names a record that was not applied and why.
type Rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// Result counts what an Upsert did.
type Result struct {
	Applied  int         `json:"applied"`
	Rejected []Rejection `json:"rejected,omitempty"`
}

// Check maps and types records without writing anything and returns the
// rejections, as Upsert would give them.
func (s *Store) Check(ctx context.Context, account, stream string, records []Record) ([]Rejection, error) {
	m, err := s.compiledMapping(ctx, account, stream)
	if err != nil {
		return nil, err
	}
	now := s.opt.Now()
	var rej []Rejection
	for i, r := range records {
		if _, err := m.prepare(r, now, false); err != nil {
			rej = append(rej, Rejection{Index: i, Reason: err.Error()})
		}
	}
	return rej, nil
}

// Upsert maps records of stream to profiles of account and applies them:
// each record is matched to a profile by its identities (creating one when
// none matches, merging when several do) and its fields are written where
// its event time is at least as new as the stored value's. Records that
// cannot be mapped are rejected with a reason and the rest applied.
//
// Batches are applied atomically and idempotently: on error some batches
// may have been applied, and applying the same records again is safe.
func (s *Store) Upsert(ctx context.Context, account, stream string, records []Record) (Result, error) {
	var res Result
	m, err := s.compiledMapping(ctx, account, stream)
	if err != nil {
		return res, err
	}
	now := s.opt.Now()
	batch := make([]prepared, 0, min(len(records), s.opt.BatchSize))
	var (
		wg       sync.WaitGroup
		sem      = make(chan struct{}, s.opt.Parallel)
		mu       sync.Mutex
		firstErr error
	)
	flush := func(b []prepared) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := s.applyBatch(ctx, account, b)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			res.Applied += len(b)
		}()
	}
	args, size := 0, 0
	for i, r := range records {
		p, err := m.prepare(r, now, true)
		if err != nil {
			res.Rejected = append(res.Rejected, Rejection{Index: i, Reason: err.Error()})
			continue
		}
		p.index = i
		batch = append(batch, p)
		args += 3 + len(p.ids)
		size += len(p.data)
		if len(batch) >= s.opt.BatchSize || args >= maxScriptArguments || size >= maxBatchBytes {
			flush(batch)
			batch = make([]prepared, 0, s.opt.BatchSize)
			args, size = 0, 0
		}
		if i%1024 == 0 && ctx.Err() != nil {
			break
		}
	}
	if len(batch) > 0 {
		flush(batch)
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return res, firstErr
	}
	return res, nil
}

// applyBatch runs the upsert script for one batch and tells the hook.
func (s *Store) applyBatch(ctx context.Context, account string, batch []prepared) error {
	args := make([]any, 0, 2+len(batch)*24)
	args = append(args, s.keys.prefix(account), len(batch))
	for _, p := range batch {
		args = append(args, p.ts, len(p.ids))
		for _, id := range p.ids {
			args = append(args, id)
		}
		args = append(args, p.data)
	}
	out, err := upsertScript.Run(ctx, s.rdb, []string{s.keys.seq(account)}, args...).Slice()
	if err != nil {
		return fmt.Errorf("applying %d records to profiles of account %q: %w", len(batch), account, err)
	}
	if s.hook == nil {
		return nil
	}
	if len(out) != 2 {
		return fmt.Errorf("upsert script of account %q: unexpected reply %v", account, out)
	}
	ids, _ := out[0].([]any)
	mergeList, _ := out[1].([]any)
	return s.notify(ctx, account, ids, mergeList)
}

// notify builds the changes of one applied batch and hands them to the hook.
func (s *Store) notify(ctx context.Context, account string, ids, mergeList []any) error {
	survivor := map[string]string{}
	var changes []Change
	for i := 0; i+1 < len(mergeList); i += 2 {
		l, _ := mergeList[i].(string)
		sv, _ := mergeList[i+1].(string)
		survivor[l] = sv
	}
	final := func(id string) string {
		for range 64 {
			next, ok := survivor[id]
			if !ok {
				break
			}
			id = next
		}
		return id
	}
	for i := 0; i+1 < len(mergeList); i += 2 {
		l, _ := mergeList[i].(string)
		changes = append(changes, Change{ProfileID: l, MergedInto: final(l)})
	}
	seen := map[string]bool{}
	var touched []string
	for _, v := range ids {
		id, _ := v.(string)
		id = final(id)
		if id != "" && !seen[id] {
			seen[id] = true
			touched = append(touched, id)
		}
	}
	read := s.getMany
	if fn, ok := s.hook.(FieldsNeeder); ok {
		if need, err := fn.NeedsFields(ctx, account); err == nil && !need {
			read = s.getManyMeta
		}
	}
	profiles, err := read(ctx, account, touched)
	if err != nil {
		return err
	}
	for i, id := range touched {
		if profiles[i] == nil {
			continue // merged away or deleted by a concurrent write, which reports it
		}
		changes = append(changes, Change{ProfileID: id, Profile: profiles[i]})
	}
	if len(changes) == 0 {
		return nil
	}
	if err := s.hook.ProfilesChanged(ctx, account, changes); err != nil {
		return fmt.Errorf("profiles of account %q stored; change hook: %w", account, err)
	}
	return nil
}

// idNumber orders profile ids; ids are decimal numbers.
func idNumber(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
}
