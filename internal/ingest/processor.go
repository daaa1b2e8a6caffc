package ingest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

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
func NewProcessor(rdb redis.UniversalClient, ns keyspace.Namespace, up Upserter, opts ProcessorOptions) *Processor {
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
