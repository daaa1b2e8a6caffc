package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

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
