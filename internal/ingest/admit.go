package ingest

import (
	"context"
	"fmt"
	"time"
)

// What a Collector remembers of an account between requests.
type accountState struct {
	// tokens requests may still be accepted on the rate-limit lease, until
	// leaseEnd.
	tokens   int
	leaseEnd time.Time
	// length is the ingest stream's length as this process last saw it, at
	// lengthAt.
	length   int64
	lengthAt time.Time
}

// Rate-limit leases: a process takes up to leaseShare of a second's rate
// at once (at least one request, at most the burst) and drops what it has
// not used after leaseTime, so that several processes share an account's
// budget closely and a lease never outlives the burst it was taken from.
const (
	leaseShare = 20 // a lease holds at most rate/leaseShare requests
	leaseTime  = time.Second
)

// maxAccountStates bounds the accounts a Collector remembers.
const maxAccountStates = 100_000

// state returns acct's state; c.mu must be held.
func (c *Collector) state(acct string) *accountState {
	st := c.accounts[acct]
	if st == nil {
		if len(c.accounts) >= maxAccountStates {
			clear(c.accounts)
		}
		st = &accountState{}
		c.accounts[acct] = st
	}
	return st
}

// admit lets a request of acct in, or tells why not: a *RateLimitedError
// when the account's rate is used up, ErrUnavailable when its backlog is
// full. The rate limit is a GCRA in Redis from which each process takes
// small leases; the backlog is checked against the stream length this
// process last saw, and read again when that is at the limit, so the limit
// may be passed by the requests in flight at that moment. readLength tells
// whether this request should read the length with its XADD: every
// lengthRefresh, and every time once the backlog is within a tenth of its
// limit.
func (c *Collector) admit(ctx context.Context, acct string) (readLength bool, err error) {
	now := time.Now()
	c.mu.Lock()
	st := c.state(acct)
	full := st.length >= c.opt.MaxBacklog
	readLength = st.length >= c.opt.MaxBacklog-max(1, c.opt.MaxBacklog/10) || now.Sub(st.lengthAt) >= lengthRefresh
	leased := c.opt.Rate <= 0
	if !leased && st.tokens > 0 && now.Before(st.leaseEnd) {
		st.tokens--
		leased = true
	}
	c.mu.Unlock()

	if full {
		n, err := c.rdb.XLen(ctx, c.keys.queue(acct)).Result()
		if err != nil {
			return false, fmt.Errorf("%w: reading the backlog of account %q: %v", ErrUnavailable, acct, err)
		}
		c.mu.Lock()
		c.state(acct).length = n
		c.mu.Unlock()
		if n >= c.opt.MaxBacklog {
			c.log.Warn("ingest backlog full", "account", acct, "length", n)
			return false, fmt.Errorf("%w: account %q has %d queued requests", ErrUnavailable, acct, n)
		}
	}
	if leased {
		return readLength, nil
	}
	want := min(c.opt.Burst, max(1, int(c.opt.Rate/leaseShare)))
	res, err := leaseScript.Run(ctx, c.rdb, []string{c.keys.rate(acct)}, int64(1e6/c.opt.Rate), c.opt.Burst, want).Int64Slice()
	if err != nil || len(res) != 2 {
		return false, fmt.Errorf("%w: taking from the rate limit of account %q: %v %v", ErrUnavailable, acct, res, err)
	}
	if res[0] == 0 {
		return false, &RateLimitedError{RetryAfter: time.Duration(res[1]) * time.Millisecond}
	}
	c.mu.Lock()
	st = c.state(acct)
	st.tokens, st.leaseEnd = int(res[0])-1, now.Add(leaseTime)
	c.mu.Unlock()
	return readLength, nil
}

// lengthRefresh is how often a process reads the length of an account's
// stream while it queues requests for it.
const lengthRefresh = 20 * time.Millisecond

// queued records the stream length after a request of acct was queued.
func (c *Collector) queued(acct string, length int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state(acct)
	st.length, st.lengthAt = length, time.Now()
}
