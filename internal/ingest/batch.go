package ingest

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Requests queued at the same moment share one Redis round trip (group
// commit): the first request to find a free flight sends the pipeline for
// itself and every request waiting behind it, and when the reply is in,
// hands the requests that arrived meanwhile to one of them, which sends the
// next pipeline. Each request still waits for its own XADD's reply, so
// nothing is answered before it is stored; no goroutine of its own runs, so
// there is nothing to stop.
const (
	// maxFlights is how many pipelines may be in flight at once.
	maxFlights = 2
	// maxBatch and maxBatchBytes bound one pipeline.
	maxBatch      = 256
	maxBatchBytes = 8 << 20
)

// queueWrite is one request to queue.
type queueWrite struct {
	account    string
	key        string
	values     []any
	size       int
	readLength bool

	// done receives the result, or a batch to send as the new leader.
	done chan queueTurn

	addErr, activeErr error
	length            int64 // the stream length after the XADD, when readLength and read
}

// queueTurn is what a waiting request is woken with: nil when its result
// is set, or a batch (it first) that it must now send.
type queueTurn []*queueWrite

// batcher groups queue writes into shared pipelines.
type batcher struct {
	rdb    redis.UniversalClient
	active string // the active set's key
	// markAfter sends the SADD only once the XADDs are answered: on Redis
	// Cluster the active set and the streams live on different nodes, and
	// the parts of one pipeline run there concurrently.
	markAfter bool

	mu      sync.Mutex
	waiting []*queueWrite
	flights int
}

// write queues w and returns once its commands have been answered; the
// errors and length are set in w.
func (b *batcher) write(ctx context.Context, w *queueWrite) {
	w.done = make(chan queueTurn, 1)
	b.mu.Lock()
	if b.flights >= maxFlights {
		b.waiting = append(b.waiting, w)
		b.mu.Unlock()
		turn := <-w.done
		if turn == nil {
			return
		}
		b.lead(ctx, turn)
		return
	}
	b.flights++
	b.mu.Unlock()
	b.lead(ctx, []*queueWrite{w})
}

// lead sends batch (whose first write is the caller's own), answers the
// others, and hands the writes that waited meanwhile to the next leader.
func (b *batcher) lead(ctx context.Context, batch []*queueWrite) {
	// The caller's cancellation must not fail the others' writes; go-redis'
	// timeouts bound the round trip.
	b.send(context.WithoutCancel(ctx), batch)
	for _, w := range batch[1:] {
		w.done <- nil
	}
	b.mu.Lock()
	if len(b.waiting) == 0 {
		b.flights--
		b.mu.Unlock()
		return
	}
	next := b.take()
	b.mu.Unlock()
	next[0].done <- next
}

// take removes the next batch from the waiting writes; b.mu must be held.
func (b *batcher) take() []*queueWrite {
	n, size := 0, 0
	for n < len(b.waiting) && n < maxBatch && (n == 0 || size+b.waiting[n].size <= maxBatchBytes) {
		size += b.waiting[n].size
		n++
	}
	next := make([]*queueWrite, n)
	copy(next, b.waiting)
	rest := copy(b.waiting, b.waiting[n:])
	clear(b.waiting[rest:])
	b.waiting = b.waiting[:rest]
	return next
}

// newBatcher returns a batcher over rdb marking accounts in the set active.
func newBatcher(rdb redis.UniversalClient, active string) *batcher {
	_, cluster := rdb.(*redis.ClusterClient)
	return &batcher{rdb: rdb, active: active, markAfter: cluster}
}

// send runs one pipeline: every write's XADD (and XLEN when it asks for
// the length), then one SADD of their accounts to the active set (on a
// cluster, in a second round trip once the XADDs are answered). The SADD
// comes after the XADDs: the processor takes an account out of the set
// before it checks the stream is empty, so whichever order the two
// interleave in, every entry is seen.
func (b *batcher) send(ctx context.Context, batch []*queueWrite) {
	pipe := b.rdb.Pipeline()
	adds := make([]*redis.StringCmd, len(batch))
	lens := make([]*redis.IntCmd, len(batch))
	accounts := make([]any, 0, 1)
	for i, w := range batch {
		adds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: w.key, Values: w.values})
		if w.readLength {
			lens[i] = pipe.XLen(ctx, w.key)
		}
		if !containsAccount(accounts, w.account) {
			accounts = append(accounts, w.account)
		}
	}
	var activeCmd *redis.IntCmd
	if !b.markAfter {
		activeCmd = pipe.SAdd(ctx, b.active, accounts...)
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	if b.markAfter {
		activeCmd = b.rdb.SAdd(ctx, b.active, accounts...)
	}
	for i, w := range batch {
		w.addErr = adds[i].Err()
		w.activeErr = activeCmd.Err()
		w.length = -1
		if lens[i] != nil && lens[i].Err() == nil {
			w.length = lens[i].Val()
		}
	}
}

func containsAccount(accounts []any, acct string) bool {
	for _, a := range accounts {
		if a.(string) == acct {
			return true
		}
	}
	return false
}
