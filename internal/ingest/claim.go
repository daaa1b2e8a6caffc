package ingest

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimCount is how many idle requests one XAUTOCLAIM takes over.
const claimCount = 20

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
