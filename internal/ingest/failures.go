package ingest

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

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
