package profiles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/store"
	"github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	BatchSizeDefault   = 500
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
	// BatchSize is the number of records written by one commit (default
	// BatchSizeDefault).
	BatchSize int
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
	// createdScratch recycles *createdProfiles (see resolve).
	createdScratch sync.Pool
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
		rdb:            rdb,
		keys:           keys{ns: ns},
		hook:           hook,
		opt:            opts,
		log:            opts.Logger.With("component", "profiles"),
		mappings:       map[string]cachedMapping{},
		createdScratch: sync.Pool{New: func() any { return new(createdProfiles) }},
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
	pr := m.newPreparer(s.opt.Now(), false)
	var rej []Rejection
	for i, r := range records {
		if _, err := pr.prepare(r); err != nil {
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
// Records are applied in order, a batch at a time; preparing the next batch,
// writing one and telling the hook about the one before overlap. Batches are
// applied atomically and idempotently: on error some batches may have been
// applied, and applying the same records again is safe.
func (s *Store) Upsert(ctx context.Context, account, stream string, records []Record) (Result, error) {
	return s.upsert(ctx, account, stream, records, nil, nil)
}

// upsert is Upsert, for bulk (when not nil) with Preread's answers fresh.
func (s *Store) upsert(ctx context.Context, account, stream string, records []Record, bulk *Bulk, fresh []bool) (Result, error) {
	var res Result
	m, err := s.compiledMapping(ctx, account, stream)
	if err != nil {
		return res, err
	}
	if bulk != nil {
		if err := bulk.failure(); err != nil {
			return res, err
		}
		if bulk.mapping != m.fingerprint {
			bulk.mappingChanged.Store(true) // since Preread
		}
	}
	type outcome struct {
		applied int
		err     error
	}
	var batches chan []prepared
	done := make(chan outcome, 1)
	if bulk != nil {
		batches = bulk.writer(ctx)
	} else {
		batches = make(chan []prepared, 4)
		go func() {
			n, err := s.applyAll(ctx, account, batches, nil)
			done <- outcome{n, err}
		}()
	}
	pr := m.newPreparer(s.opt.Now(), true)
	batch := make([]prepared, 0, min(len(records), s.opt.BatchSize))
	args, size := 0, 0
	for i, r := range records {
		p, err := pr.prepare(r)
		if err != nil {
			res.Rejected = append(res.Rejected, Rejection{Index: i, Reason: err.Error()})
			continue
		}
		p.index = i
		p.fresh = i < len(fresh) && fresh[i]
		batch = append(batch, p)
		args += 3 + len(p.ids)
		size += len(p.data)
		if len(batch) >= s.opt.BatchSize || args >= maxScriptArguments || size >= maxBatchBytes {
			batches <- batch
			batch = make([]prepared, 0, s.opt.BatchSize)
			args, size = 0, 0
		}
		if i%1024 == 0 && ctx.Err() != nil {
			break
		}
	}
	if len(batch) > 0 {
		batches <- batch
	}
	if bulk != nil {
		res.Applied = bulk.take()
		if err := bulk.failure(); err != nil {
			return res, err
		}
		return res, ctx.Err()
	}
	close(batches)
	out := <-done
	res.Applied = out.applied
	if out.err == nil {
		out.err = ctx.Err()
	}
	return res, out.err
}

// applyAll writes the batches in order and hands each one's changes to the
// hook, which runs behind the writes. After an error the remaining batches
// are drained unwritten. It returns the number of records written. With a
// bulk, batches of records its Preread found new are written without
// reading, up to maxGroup per commit.
func (s *Store) applyAll(ctx context.Context, account string, batches <-chan []prepared, bulk *Bulk) (int, error) {
	var hooks chan []Change
	hookDone := make(chan error, 1)
	if s.hook != nil {
		hooks = make(chan []Change, 1)
		go func() {
			var first error
			for changes := range hooks {
				if first != nil || len(changes) == 0 {
					continue
				}
				if err := s.hook.ProfilesChanged(ctx, account, changes); err != nil {
					first = fmt.Errorf("profiles of account %q stored; change hook: %w", account, err)
				}
			}
			hookDone <- first
		}()
	} else {
		hookDone <- nil
	}
	applied := 0
	count := func(n int) {
		applied += n
		if bulk != nil {
			bulk.applied.Add(int64(n))
		}
	}
	var first error
	send := func(changes []Change) {
		if hooks != nil {
			hooks <- changes
		}
	}
	failed := func(n int, err error) error {
		return fmt.Errorf("applying %d records to profiles of account %q: %w", n, account, err)
	}
	// alone writes a batch on its own (after a lost race). What a bulk
	// knew no longer holds: another writer came in.
	alone := func(b []prepared) error {
		if bulk != nil {
			bulk.valid = false
		}
		changes, err := s.applyBatch(ctx, account, b)
		if err != nil {
			return err
		}
		count(len(b))
		send(changes)
		return nil
	}
	// committed takes note of a batch that applied.
	committed := func(p *pending) {
		count(len(p.batch))
		if s.hook != nil {
			send(s.txChanges(ctx, account, p))
		}
		if bulk != nil {
			bulk.pver, bulk.seq = p.pver+1, p.w.next
		}
	}
	// prev is the batch whose commit runs while the next one is resolved.
	var prev *pending
	// settle waits for prev's commit and hands its changes on. redone: the
	// commit was stale and prev was written again on its own, so a batch
	// resolved against it must be resolved again.
	settle := func() (redone bool, err error) {
		if prev == nil {
			return false, nil
		}
		p := prev
		prev = nil
		err = <-p.done
		if errors.Is(err, errStaleCommit) {
			return true, alone(p.batch)
		}
		if err != nil {
			return false, failed(len(p.batch), err)
		}
		committed(p)
		return false, nil
	}
	// Batches of new records: flight is the commits in flight, oldest
	// first, each linked to the one before (see chainLink) on the
	// commitStream, and queue the batches resolved since, each against the
	// one before. Without a stream, they are committed one at a time.
	var flight []*flightGroup
	var queue []*pending
	var stream *commitStream
	noStream := false
	defer func() {
		if stream != nil {
			stream.close()
		}
	}()
	flightFull := func() bool {
		return len(flight) >= maxFlight || (stream == nil && len(flight) > 0)
	}
	launch := func() {
		if len(queue) == 0 || flightFull() {
			return
		}
		if stream == nil && !noStream {
			var err error
			if stream, err = s.openStream(ctx, account); err != nil {
				noStream = true
				s.log.Warn("profiles: committing new records one at a time", "account", account, "err", err)
			}
		}
		g := &flightGroup{ps: queue, done: make(chan error, 1)}
		queue = nil
		if stream == nil {
			flight = append(flight, g)
			go func() { g.done <- s.commit(ctx, account, g.ps...) }()
			return
		}
		g.link.token = bulk.nextToken()
		if len(flight) > 0 {
			g.link.after = flight[len(flight)-1].link.token
		}
		flight = append(flight, g)
		stream.send(s.commitCommands(account, g.link, g.ps), g)
	}
	// settleGroup takes the outcome of the oldest commit in flight, waiting
	// for it when wait. When it did not apply, the commit after it cannot
	// have applied either (its link); their batches and the queued ones are
	// written on their own.
	settleGroup := func(wait bool) error {
		if len(flight) == 0 {
			return nil
		}
		g := flight[0]
		var err error
		if wait {
			err = <-g.done
		} else {
			select {
			case err = <-g.done:
			default:
				return nil
			}
		}
		flight = flight[1:]
		if err == nil {
			for _, p := range g.ps {
				committed(p)
			}
			return nil
		}
		redo := g.ps
		for _, h := range flight {
			<-h.done
			redo = append(redo, h.ps...)
		}
		flight = nil
		redo = append(redo, queue...)
		queue = nil
		if !errors.Is(err, errStaleCommit) {
			n := 0
			for _, p := range redo {
				n += len(p.batch)
			}
			return failed(n, err)
		}
		for _, p := range redo {
			if err := alone(p.batch); err != nil {
				return err
			}
		}
		return nil
	}
	// drain writes every batch of new records resolved so far.
	drain := func() error {
		for len(flight) > 0 || len(queue) > 0 {
			if len(queue) > 0 && !flightFull() {
				launch()
				continue
			}
			if err := settleGroup(true); err != nil {
				return err
			}
		}
		return nil
	}
	for b := range batches {
		if first != nil {
			bulk.fail(first) // drained unwritten from now on
			continue
		}
		fresh := bulk.freshBatch(b)
		if fresh {
			if _, err := settle(); err != nil {
				first = err
				continue
			}
			fresh = bulk.trusted() // settling may have found another writer
		}
		if fresh {
			// What the account holds once everything before applied.
			pver, seq := bulk.pver, bulk.seq
			switch {
			case len(queue) > 0:
				pver, seq = queue[len(queue)-1].pver+1, queue[len(queue)-1].w.next
			case len(flight) > 0:
				last := flight[len(flight)-1].ps
				pver, seq = last[len(last)-1].pver+1, last[len(last)-1].w.next
			}
			p, err := s.resolveFresh(ctx, account, b, pver, seq, bulk.hookVals)
			if err != nil {
				first = failed(len(b), err)
				continue
			}
			if !p.stale {
				bulk.freshBatches++
				queue = append(queue, p)
				if err := settleGroup(len(queue) >= maxGroup && flightFull()); err != nil {
					first = err
					continue
				}
				launch()
				continue
			}
			bulk.valid = false // the audience definitions changed
		}
		if err := drain(); err != nil {
			first = err
			continue
		}
		p, err := s.resolve(ctx, account, b, prev)
		chained := prev != nil // resolved against prev, so in step with it
		redone, serr := settle()
		if serr != nil {
			first = serr
			continue
		}
		if err == nil && (redone || p.stale) {
			p, err = s.resolve(ctx, account, b, nil)
			chained = false
		}
		if err != nil {
			first = failed(len(b), err)
			continue
		}
		if p.stale {
			first = alone(b)
			continue
		}
		if bulk != nil && ((!chained && p.pver != bulk.pver) || !slices.Equal(p.checkVals, bulk.hookVals)) {
			bulk.valid = false // another writer came in
		}
		prev = p
		go func() { p.done <- s.commit(ctx, account, p) }()
	}
	if first == nil {
		first = drain()
	} else {
		// Wait for the commits in flight; nothing more is written.
		ok := true
		for _, g := range flight {
			if err := <-g.done; err != nil || !ok {
				ok = false
				continue
			}
			for _, p := range g.ps {
				committed(p)
			}
		}
	}
	if _, err := settle(); err != nil && first == nil {
		first = err
	}
	if hooks != nil {
		close(hooks)
	}
	if err := <-hookDone; first == nil {
		first = err
	}
	return applied, first
}

// applyBatch writes one batch on its own and returns its changes for the
// hook (none without a hook). It tries the optimistic commit, whose result
// needs no read-back, and after repeated conflicts with concurrent writers
// runs the upsert script, which cannot conflict.
func (s *Store) applyBatch(ctx context.Context, account string, batch []prepared) ([]Change, error) {
	for range txAttempts {
		p, err := s.writeBatchTx(ctx, account, batch)
		if errors.Is(err, errStaleCommit) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("applying %d records to profiles of account %q: %w", len(batch), account, err)
		}
		if s.hook == nil {
			return nil, nil
		}
		return s.txChanges(ctx, account, p), nil
	}
	return s.applyBatchScript(ctx, account, batch)
}

// txChanges lists what a committed batch changed: merged-away profiles
// first, then every profile it wrote, as it wrote them, but for those a
// CreationHook already took.
func (s *Store) txChanges(ctx context.Context, account string, p *pending) []Change {
	changes, _ := mergeChanges(p.w.merges)
	fields := s.hookNeedsFields(ctx, account)
	for _, st := range p.w.order {
		if !st.gone && !(st.created && p.createdHandled) {
			changes = append(changes, Change{ProfileID: st.id, Profile: st.profile(fields)})
		}
	}
	return changes
}

// mergeChanges turns merges (loser, survivor, ... in order) into a Change
// per loser naming its final survivor, and returns the loser to survivor
// map.
func mergeChanges(merges []string) ([]Change, map[string]string) {
	survivor := make(map[string]string, len(merges)/2)
	for i := 0; i+1 < len(merges); i += 2 {
		survivor[merges[i]] = merges[i+1]
	}
	var changes []Change
	for i := 0; i+1 < len(merges); i += 2 {
		changes = append(changes, Change{ProfileID: merges[i], MergedInto: finalSurvivor(survivor, merges[i])})
	}
	return changes, survivor
}

// hookNeedsFields tells whether the hook reads data fields of the account's
// profiles (FieldsNeeder); when unsure, it does.
func (s *Store) hookNeedsFields(ctx context.Context, account string) bool {
	if fn, ok := s.hook.(FieldsNeeder); ok {
		if need, err := fn.NeedsFields(ctx, account); err == nil && !need {
			return false
		}
	}
	return true
}

// finalSurvivor follows merges from id to the profile that survives them.
func finalSurvivor(survivor map[string]string, id string) string {
	for range 64 {
		next, ok := survivor[id]
		if !ok {
			break
		}
		id = next
	}
	return id
}

// applyBatchScript runs the upsert script for one batch and reads back what
// it changed for the hook.
func (s *Store) applyBatchScript(ctx context.Context, account string, batch []prepared) ([]Change, error) {
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
		return nil, fmt.Errorf("applying %d records to profiles of account %q: %w", len(batch), account, err)
	}
	if s.hook == nil {
		return nil, nil
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("upsert script of account %q: unexpected reply %v", account, out)
	}
	ids, _ := out[0].([]any)
	mergeList, _ := out[1].([]any)
	return s.readChanges(ctx, account, ids, mergeList)
}

// readChanges builds the changes of a batch the script applied, reading the
// changed profiles back.
func (s *Store) readChanges(ctx context.Context, account string, ids, mergeList []any) ([]Change, error) {
	merges := make([]string, len(mergeList))
	for i, v := range mergeList {
		merges[i], _ = v.(string)
	}
	changes, survivor := mergeChanges(merges)
	seen := map[string]bool{}
	var touched []string
	for _, v := range ids {
		id, _ := v.(string)
		id = finalSurvivor(survivor, id)
		if id != "" && !seen[id] {
			seen[id] = true
			touched = append(touched, id)
		}
	}
	profiles, err := s.readProfiles(ctx, account, touched, s.hookNeedsFields(ctx, account))
	if err != nil {
		return nil, err
	}
	for i, id := range touched {
		if profiles[i] == nil {
			continue // merged away or deleted by a concurrent write, which reports it
		}
		changes = append(changes, Change{ProfileID: id, Profile: profiles[i]})
	}
	return changes, nil
}

// idNumber orders profile ids; ids are decimal numbers.
func idNumber(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
}
