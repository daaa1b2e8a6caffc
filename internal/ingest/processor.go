package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/store"
	"github.com/redis/go-redis/v9"
)

// Defaults of ProcessorOptions.
const (
	ConcurrencyDefault   = 4
	ReadCountDefault     = 1000
	PollIntervalDefault  = 25 * time.Millisecond
	ClaimIdleDefault     = 30 * time.Second
	ClaimIntervalDefault = 5 * time.Second
	MaxDeliveriesDefault = 20
	RetryBackoffDefault  = time.Second
	LingerDefault        = 50 * time.Millisecond
	TurnDefault          = time.Second
	// ForgetConsumersAfterDefault is the default of ForgetConsumersAfter.
	ForgetConsumersAfterDefault = time.Hour
	maxRetryBackoff             = 30 * time.Second
)

// Upserter applies records to profiles; *profiles.Store implements it.
type Upserter interface {
	Upsert(ctx context.Context, account, stream string, records []profiles.Record) (profiles.Result, error)
}

// ProcessorOptions tune a Processor; the zero value uses the defaults.
type ProcessorOptions struct {
	Logger *slog.Logger
	// Consumer names this processor in the consumer groups (default
	// hostname-pid). Two live processors must not share a name.
	Consumer string
	// Concurrency is how many accounts are processed at once.
	Concurrency int
	// ReadCount is how many queued requests one read takes.
	ReadCount int
	// PollInterval is how often the active-account set is read when idle.
	PollInterval time.Duration
	// ClaimIdle is how long a request may stay unacknowledged with another
	// consumer (e.g. one that crashed) before this one takes it over.
	ClaimIdle time.Duration
	// ClaimInterval is how often each account is checked for such requests.
	ClaimInterval time.Duration
	// MaxDeliveries is how often a request is tried before it is moved to
	// the account's dead-letter stream.
	MaxDeliveries int64
	// RetryBackoff is the first wait after a failed apply; it doubles up to
	// 30 s.
	RetryBackoff time.Duration
	// Linger is how long the processor waits after a read that found fewer
	// requests than it asked for before it reads again: under a steady
	// stream of requests it then applies them in batches of hundreds, whose
	// fixed costs (round trips, transactions) are shared, instead of a few
	// at a time. It adds at most Linger to the time until an event is in its
	// profile; a processor lingers only while no other account waits for
	// one of its slots (default 50 ms).
	Linger time.Duration
	// Turn is how long the processor keeps applying one account's requests
	// while they keep coming before it gives the slot to an account waiting
	// for one of its Concurrency slots (default 1 s). An account that has
	// caught up gives its slot to a waiting one at once.
	Turn time.Duration
	// ForgetConsumersAfter is how long another consumer with nothing pending
	// must have been silent before it is removed from the group (a process
	// that restarted under a new name leaves its old one behind; default 1 h).
	ForgetConsumersAfter time.Duration
}

func (o ProcessorOptions) withDefaults() ProcessorOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = host + "-" + strconv.Itoa(os.Getpid())
	}
	if o.Concurrency <= 0 {
		o.Concurrency = ConcurrencyDefault
	}
	if o.ReadCount <= 0 {
		o.ReadCount = ReadCountDefault
	}
	if o.PollInterval <= 0 {
		o.PollInterval = PollIntervalDefault
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = ClaimIdleDefault
	}
	if o.ClaimInterval <= 0 {
		o.ClaimInterval = ClaimIntervalDefault
	}
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = MaxDeliveriesDefault
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = RetryBackoffDefault
	}
	if o.Linger <= 0 {
		o.Linger = LingerDefault
	}
	if o.Turn <= 0 {
		o.Turn = TurnDefault
	}
	if o.ForgetConsumersAfter <= 0 {
		o.ForgetConsumersAfter = ForgetConsumersAfterDefault
	}
	return o
}

// Processor applies queued collect requests to profiles. It runs in the
// worker process; any number may run against one Redis. It finds accounts
// with work in the global active set, reads each account's ingest stream as
// a consumer group member, acknowledges and deletes requests once applied,
// and takes over requests left unacknowledged by crashed consumers.
type Processor struct {
	rdb  redis.UniversalClient
	keys keys
	up   Upserter
	opt  ProcessorOptions
	log  *slog.Logger

	// waiting counts the accounts waiting for one of the Concurrency slots;
	// waited wakes a lingering drain when one starts waiting.
	waiting atomic.Int32
	waited  chan struct{}

	mu        sync.Mutex
	cancel    context.CancelFunc
	done      chan struct{}
	busy      map[string]bool
	groups    map[string]bool
	lastClaim map[string]time.Time
	failures  map[string]int
}

// NewProcessor returns a Processor that applies requests queued under ns with up.
func NewProcessor(rdb redis.UniversalClient, ns store.Namespace, up Upserter, opts ProcessorOptions) *Processor {
	opts = opts.withDefaults()
	return &Processor{
		rdb: rdb, keys: keys{ns: ns}, up: up, opt: opts,
		log:       opts.Logger.With("component", "ingest-processor", "consumer", opts.Consumer),
		waited:    make(chan struct{}, 1),
		busy:      map[string]bool{},
		groups:    map[string]bool{},
		lastClaim: map[string]time.Time{},
		failures:  map[string]int{},
	}
}

// Start starts processing in the background until ctx ends or Stop is called.
func (p *Processor) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return errors.New("ingest processor already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.run(ctx)
	return nil
}

// Stop stops processing and waits for in-flight work to end. Requests being
// applied when it is called stay pending and are taken over later. Stop is
// idempotent and safe before Start.
func (p *Processor) Stop() {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (p *Processor) run(ctx context.Context) {
	defer close(p.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, p.opt.Concurrency)
	ticker := time.NewTicker(p.opt.PollInterval)
	defer ticker.Stop()
	for {
		accounts, err := p.rdb.SMembers(ctx, p.keys.active()).Result()
		if err != nil && ctx.Err() == nil {
			p.log.Warn("reading active ingest accounts; retrying in a second", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second): // Redis is away: do not spin on it
			}
		}
		for _, acct := range accounts {
			p.mu.Lock()
			skip := p.busy[acct]
			if !skip {
				p.busy[acct] = true
			}
			p.mu.Unlock()
			if skip {
				continue
			}
			if !p.acquire(ctx, sem) {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				p.drain(ctx, acct)
				p.mu.Lock()
				delete(p.busy, acct)
				p.mu.Unlock()
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// acquire takes a slot of sem for an account, counting the account in
// p.waiting while all slots are taken; false when ctx ends first.
func (p *Processor) acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	select { // end a drain's linger, so that it gives its slot up
	case p.waited <- struct{}{}:
	default:
	}
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// drain applies an account's queued requests until none is left, then takes
// the account out of the active set unless requests remain (pending with
// other consumers, or newly queued). It leaves the account active and
// stops early when other accounts wait for a slot, once it has caught up
// (a short read) or after Turn, so that accounts whose requests keep coming
// take turns.
func (p *Processor) drain(ctx context.Context, acct string) {
	if err := p.ensureGroup(ctx, acct); err != nil {
		p.log.Warn("creating ingest consumer group", "account", acct, "err", err)
		return
	}
	began := time.Now()
	start := "0" // first our own pending requests (a retry), then new ones
	count := p.opt.ReadCount
	for ctx.Err() == nil {
		// Also while requests keep coming: a drain may last as long as they
		// do, and a crashed consumer's requests must not wait for its end.
		p.claimIfDue(ctx, acct)
		msgs, err := p.read(ctx, acct, start, count)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("reading ingest stream", "account", acct, "err", err)
			}
			return
		}
		if len(msgs) == 0 {
			if start == "0" {
				start = ">"
				continue
			}
			p.deactivate(ctx, acct)
			return
		}
		short := len(msgs) < count
		count = nextReadCount(msgs, count, p.opt.ReadCount)
		if err := p.apply(ctx, acct, msgs); err != nil {
			p.failed(ctx, acct, msgs, err)
			return
		}
		p.mu.Lock()
		delete(p.failures, acct)
		p.mu.Unlock()
		if time.Since(began) >= p.opt.Turn && p.waiting.Load() > 0 {
			return // its turn is over, and others wait: the account stays active
		}
		if short && start == ">" {
			if p.waiting.Load() > 0 {
				return // caught up, and others wait: the account stays active
			}
			select { // let the next batch gather (see Linger)
			case <-ctx.Done():
			case <-time.After(p.opt.Linger):
			case <-p.waited:
				if p.waiting.Load() > 0 {
					return // another account waits: the account stays active
				}
			}
		}
	}
}

// claimCount is how many idle requests one XAUTOCLAIM takes over.
const claimCount = 20

// maxReadBytes bounds the request bodies one read should bring in; large
// requests (up to 10 MB each) make the next reads take fewer of them.
const maxReadBytes = 4 << 20

// nextReadCount adapts how many requests the next read takes to the body
// sizes just read, between 1 and limit.
func nextReadCount(msgs []redis.XMessage, count, limit int) int {
	total := 0
	for _, m := range msgs {
		if b, ok := m.Values[fieldBody].(string); ok {
			total += len(b)
		}
	}
	if total > maxReadBytes {
		return max(1, count*maxReadBytes/total)
	}
	return min(limit, count*2)
}

func (p *Processor) read(ctx context.Context, acct, start string, count int) ([]redis.XMessage, error) {
	res, err := p.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: consumerGroup, Consumer: p.opt.Consumer,
		Streams: []string{p.keys.queue(acct), start},
		Count:   int64(count), Block: -1,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		if redis.HasErrorPrefix(err, "NOGROUP") {
			p.mu.Lock()
			delete(p.groups, acct)
			p.mu.Unlock()
		}
		return nil, fmt.Errorf("reading ingest stream of account %q: %w", acct, err)
	}
	var out []redis.XMessage
	for _, s := range res {
		for _, m := range s.Messages {
			if m.Values != nil { // deleted entries still pending show up empty
				out = append(out, m)
			} else {
				p.ackDelete(ctx, acct, []string{m.ID})
			}
		}
	}
	return out, nil
}

func (p *Processor) ensureGroup(ctx context.Context, acct string) error {
	p.mu.Lock()
	ok := p.groups[acct]
	p.mu.Unlock()
	if ok {
		return nil
	}
	err := p.rdb.XGroupCreateMkStream(ctx, p.keys.queue(acct), consumerGroup, "0").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return err
	}
	p.mu.Lock()
	p.groups[acct] = true
	p.mu.Unlock()
	return nil
}

// deactivate removes acct from the active set, then puts it back if the
// stream still holds entries: a request queued meanwhile added itself after
// our removal or is counted here, so none is left unseen.
//
// If the account cannot be put back, requests queued meanwhile wait for the
// account's next request (which activates it again): that is logged.
func (p *Processor) deactivate(ctx context.Context, acct string) {
	if err := p.rdb.SRem(ctx, p.keys.active(), acct).Err(); err != nil {
		// Still active: the next round drains it again.
		p.log.Warn("deactivating an ingest account failed; it stays active", "account", acct, "err", err)
		return
	}
	n, err := p.rdb.XLen(ctx, p.keys.queue(acct)).Result()
	if err != nil {
		p.log.Warn("counting queued ingest requests failed; the account stays active", "account", acct, "err", err)
	}
	if err != nil || n > 0 {
		if err := p.rdb.SAdd(ctx, p.keys.active(), acct).Err(); err != nil {
			p.log.Error("reactivating an ingest account failed; its queued requests wait for its next request", "account", acct, "queued", n, "err", err)
		}
	}
}

// apply applies the records of msgs, grouped by stream, and acknowledges
// and deletes the messages.
func (p *Processor) apply(ctx context.Context, acct string, msgs []redis.XMessage) error {
	type origin struct {
		index int // item index in its request
	}
	type batch struct {
		records []profiles.Record
		origins []origin
	}
	batches := map[string]*batch{}
	var order []string
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
		if len(m.Values) == 0 {
			continue // deleted after it was read: only acknowledge it
		}
		stream, records, index, skip, arrival, err := decodeEntry(m)
		if err != nil {
			p.log.Error("undecodable ingest entry moved to dead letters", "account", acct, "id", m.ID, "err", err)
			p.deadLetter(ctx, acct, m, err.Error())
			ids = ids[:len(ids)-1]
			continue
		}
		b := batches[stream]
		if b == nil {
			b = &batch{}
			batches[stream] = b
			order = append(order, stream)
		}
		for i, rec := range records {
			if skip[index[i]] {
				continue
			}
			rec.Arrival = arrival
			b.records = append(b.records, rec)
			b.origins = append(b.origins, origin{index: index[i]})
		}
	}
	for _, stream := range order {
		b := batches[stream]
		res, err := p.up.Upsert(ctx, acct, stream, b.records)
		if err != nil {
			return fmt.Errorf("applying %d records of stream %q: %w", len(b.records), stream, err)
		}
		if len(res.Rejected) > 0 {
			rej := make([]profiles.Rejection, len(res.Rejected))
			for i, r := range res.Rejected {
				rej[i] = profiles.Rejection{Index: b.origins[r.Index].index, Reason: r.Reason}
			}
			if err := writeRejections(ctx, p.rdb, p.keys.streamLog(acct, stream), rej); err != nil {
				p.log.Warn("writing rejections to the stream log", "account", acct, "stream", stream, "err", err)
			}
		}
	}
	if len(ids) > 0 {
		if err := p.ackDelete(ctx, acct, ids); err != nil {
			return err
		}
	}
	return nil
}

func (p *Processor) ackDelete(ctx context.Context, acct string, ids []string) error {
	key := p.keys.queue(acct)
	pipe := p.rdb.TxPipeline()
	pipe.XAck(ctx, key, consumerGroup, ids...)
	pipe.XDel(ctx, key, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("acknowledging %d ingest entries of account %q: %w", len(ids), acct, err)
	}
	return nil
}

// decodeEntry reads one queued request.
func decodeEntry(m redis.XMessage) (stream string, records []profiles.Record, index []int, skip map[int]bool, arrival time.Time, err error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	stream = str(fieldStream)
	if stream == "" {
		return "", nil, nil, nil, time.Time{}, errors.New("entry without stream")
	}
	ms, err := strconv.ParseInt(str(fieldArrival), 10, 64)
	if err != nil {
		return "", nil, nil, nil, time.Time{}, fmt.Errorf("entry arrival time: %w", err)
	}
	parsed, err := parseRecords(str(fieldContentType), str(fieldBody))
	if err != nil {
		return "", nil, nil, nil, time.Time{}, err
	}
	records, index = parsed.Records, parsed.Index
	if r := str(fieldRejected); r != "" {
		skip = map[int]bool{}
		for _, s := range strings.Split(r, ",") {
			if i, err := strconv.Atoi(s); err == nil {
				skip[i] = true
			}
		}
	}
	return stream, records, index, skip, time.UnixMilli(ms), nil
}

// failed handles a failed apply: requests delivered MaxDeliveries times go to
// the dead-letter stream, the others stay pending for a retry after a
// growing backoff.
func (p *Processor) failed(ctx context.Context, acct string, msgs []redis.XMessage, err error) {
	p.mu.Lock()
	p.failures[acct]++
	n := p.failures[acct]
	p.mu.Unlock()
	p.log.Warn("applying queued requests failed; they stay pending", "account", acct, "requests", len(msgs), "attempt", n, "err", err)
	counts, cerr := p.deliveries(ctx, acct, msgs)
	if cerr != nil {
		p.log.Warn("counting deliveries of queued requests failed; none is moved to dead letters this time", "account", acct, "requests", len(msgs), "err", cerr)
	} else {
		var dead []string
		for _, m := range msgs {
			if counts[m.ID] >= p.opt.MaxDeliveries {
				p.deadLetter(ctx, acct, m, err.Error())
				dead = append(dead, m.ID)
			}
		}
		if len(dead) > 0 {
			p.log.Error("queued requests moved to dead letters", "account", acct, "requests", len(dead))
		}
	}
	backoff := p.opt.RetryBackoff << min(n-1, 16)
	select {
	case <-ctx.Done():
	case <-time.After(min(backoff, maxRetryBackoff)):
	}
}

// deliveries returns how often each message was delivered.
func (p *Processor) deliveries(ctx context.Context, acct string, msgs []redis.XMessage) (map[string]int64, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	pend, err := p.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: p.keys.queue(acct), Group: consumerGroup,
		Start: msgs[0].ID, End: msgs[len(msgs)-1].ID, Count: int64(len(msgs)),
	}).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(pend))
	for _, e := range pend {
		out[e.ID] = e.RetryCount
	}
	return out, nil
}

func (p *Processor) deadLetter(ctx context.Context, acct string, m redis.XMessage, reason string) {
	vals := []any{"id", m.ID, "error", reason}
	for k, v := range m.Values {
		vals = append(vals, k, v)
	}
	if err := p.rdb.XAdd(ctx, &redis.XAddArgs{Stream: p.keys.dead(acct), Values: vals}).Err(); err != nil {
		p.log.Error("writing dead letter", "account", acct, "id", m.ID, "err", err)
		return
	}
	if err := p.ackDelete(ctx, acct, []string{m.ID}); err != nil {
		p.log.Error("removing dead letter from the queue", "account", acct, "id", m.ID, "err", err)
	}
}

// claimIfDue takes over requests other consumers left unacknowledged for
// ClaimIdle, at most every ClaimInterval per account, and applies them.
func (p *Processor) claimIfDue(ctx context.Context, acct string) {
	p.mu.Lock()
	due := time.Since(p.lastClaim[acct]) >= p.opt.ClaimInterval
	if due {
		p.lastClaim[acct] = time.Now()
	}
	p.mu.Unlock()
	if !due {
		return
	}
	start := "0-0"
	for range 100 {
		msgs, next, err := p.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: p.keys.queue(acct), Group: consumerGroup, Consumer: p.opt.Consumer,
			MinIdle: p.opt.ClaimIdle, Start: start, Count: int64(min(p.opt.ReadCount, claimCount)),
		}).Result()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("claiming idle ingest entries", "account", acct, "err", err)
			}
			return
		}
		if len(msgs) > 0 {
			p.log.Info("took over idle queued requests", "account", acct, "requests", len(msgs))
			if err := p.apply(ctx, acct, msgs); err != nil {
				p.failed(ctx, acct, msgs, err)
				return
			}
		}
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	p.forgetGoneConsumers(ctx, acct)
}

func (p *Processor) forgetGoneConsumers(ctx context.Context, acct string) {
	key := p.keys.queue(acct)
	consumers, err := p.rdb.XInfoConsumers(ctx, key, consumerGroup).Result()
	if err != nil {
		p.log.Warn("listing ingest consumers failed; gone ones are forgotten later", "account", acct, "err", err)
		return
	}
	for _, c := range consumers {
		if c.Name != p.opt.Consumer && c.Pending == 0 && c.Idle >= p.opt.ForgetConsumersAfter {
			if err := p.rdb.XGroupDelConsumer(ctx, key, consumerGroup, c.Name).Err(); err != nil {
				p.log.Warn("forgetting a gone ingest consumer failed", "account", acct, "consumer", c.Name, "err", err)
			}
		}
	}
}
