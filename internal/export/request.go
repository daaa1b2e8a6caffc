package export

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/ratelimit"
)

// permanent is a Braze answer no retry can fix (the job is failed), as a
// *fault.PermanentError whose code is code, else egress's code for a
// refused endpoint, else braze_<status>.
func permanent(be *braze.Error, code string) error {
	switch {
	case code != "":
	case errors.Is(be, egress.ErrForbidden):
		code = egress.Code // the endpoint resolves to an internal address
	default:
		code = fmt.Sprintf("braze_%d", be.Status)
	}
	return &fault.PermanentError{Code: code, Err: be}
}

// Counters of a send, added to the job's current run.
type Counters map[string]int64

// retryAttempts is how many times one request is tried when Braze answers
// 5xx or not at all, before the task gives up and Asynq's backoff takes
// over. A 10% error rate then fails a task once in 10,000 requests.
const retryAttempts = 4

// retryBase is the first inline retry's backoff ceiling, doubled each time
// (fault.Backoff: full jitter).
const retryBase = 200 * time.Millisecond

// Sizing of a job's senders.
const (
	// RequestsPerSender is the request rate one sender is counted on for
	// per request it keeps in flight (Options.InFlight): a batch every 50
	// ms (Redis reads, Braze's answer, Redis writes).
	RequestsPerSender = 20
	// MinSenders is the fewest senders a busy job gets.
	MinSenders = 2
)

// sendersFor is how many senders the rate limit l keeps busy.
func (e *Engine) sendersFor(l ratelimit.Limit) int {
	perSec := float64(l.Budget()) / l.Per.Seconds()
	n := int(perSec/float64(RequestsPerSender*e.opts.InFlight) + 0.999)
	return max(MinSenders, min(n, e.opts.Senders))
}

// laneHeadroom is how many more requests a sender keeps in flight than
// its share of the limit needs at RequestsPerSender each: a loaded worker
// or Redis makes a request's round slower than 50 ms.
const laneHeadroom = 4

// lanesFor is how many requests each of a job's senders keeps in flight
// under the rate limit l: enough for its share of the limit, with
// laneHeadroom, at most InFlight.
func (e *Engine) lanesFor(l ratelimit.Limit) int {
	perSec := float64(l.Budget()) / l.Per.Seconds()
	n := int(laneHeadroom*perSec/float64(e.sendersFor(l))/RequestsPerSender + 0.999)
	return max(1, min(n, e.opts.InFlight))
}

// limit is the rate limit of an authorization as the engine uses it.
func (e *Engine) limit(reqs int, per time.Duration) ratelimit.Limit {
	l := ratelimit.Limit{Requests: reqs, Per: per, Headroom: e.opts.Headroom}
	l.Burst = max(2, int(float64(l.Budget())*e.opts.BurstFraction))
	l.Burst = min(l.Burst, l.Budget())
	return l
}

// authSettings are the batch size and rate limit of a Braze authorization
// as the engine sends with them (a preview counts with them too).
func (e *Engine) authSettings(a *authorizations.Authorization) (int, ratelimit.Limit) {
	batch, _ := authorizations.ConfigInt(a.Config, "batch_size", 75, 1, 75)
	reqs, _ := authorizations.ConfigInt(a.Config, "rate_limit", ratelimit.RequestsDefault, 1, 1_000_000)
	win, _ := authorizations.ConfigInt(a.Config, "rate_limit_window_seconds", 3, 1, 3600)
	return batch, e.limit(reqs, time.Duration(win)*time.Second)
}

// client returns the Braze client and limit of an authorization, cached
// until the authorization changes.
func (e *Engine) client(ctx context.Context, acct, authID string) (*braze.Client, ratelimit.Limit, error) {
	a, secrets, err := e.creds.Credentials(ctx, acct, authID)
	if err != nil {
		return nil, ratelimit.Limit{}, fmt.Errorf("reading authorization %s: %w", authID, err)
	}
	key := acct + "/" + authID
	sig := sha256.Sum256(fmt.Appendf(nil, "%v\x00%s", a.Config, secrets["api_key"]))
	e.mu.Lock()
	c, ok := e.clients[key]
	e.mu.Unlock()
	if ok && c.updated.Equal(a.UpdatedAt) && c.sig == sig {
		return c.client, c.limit, nil
	}
	batch, lim := e.authSettings(a)
	cl, err := braze.New(braze.Options{
		Endpoint: authorizations.BrazeEndpoint(a), APIKey: secrets["api_key"],
		AllowInsecure: e.opts.AllowInsecure, AllowCustomEndpoint: e.opts.AllowCustomEndpoints,
		// Every connection passes the egress policy, on the address the
		// endpoint resolves to when it is dialled.
		Dial:      e.opts.Egress.Dialer(net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		BatchSize: batch, Logger: e.opts.Logger,
	})
	if err != nil {
		return nil, ratelimit.Limit{}, permanent(&braze.Error{Class: braze.Permanent, Message: err.Error(), Hint: "fix the authorization"}, CodeConfig)
	}
	e.mu.Lock()
	if old, ok := e.clients[key]; ok {
		old.client.CloseIdleConnections()
	}
	e.clients[key] = cachedClient{updated: a.UpdatedAt, sig: sig, client: cl, limit: lim}
	e.mu.Unlock()
	return cl, lim, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reserve waits until the limiter lets one request of the authorization
// through; a wait longer than MaxInlineWait is a *fault.WaitError. A
// request that must wait takes turns at gate (nil: none) first, so that
// one of a sender's requests polls the limiter, not every one of them.
func (e *Engine) reserve(ctx context.Context, acct, authID string, lim ratelimit.Limit, c Counters, gate chan struct{}) error {
	wait, err := e.limiter.Reserve(ctx, acct, authID, lim)
	if err != nil || wait == 0 {
		return err
	}
	if gate != nil {
		select {
		case gate <- struct{}{}:
			defer func() { <-gate }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for wait > 0 {
		c["rate_limit_waits"]++
		if wait > e.opts.MaxInlineWait {
			e.metrics.wait(0)
			return fault.Wait(wait, "Braze rate limit")
		}
		e.metrics.wait(wait)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		if wait, err = e.limiter.Reserve(ctx, acct, authID, lim); err != nil {
			return err
		}
	}
	return nil
}

// sendOne sends one request within the shared rate limit. A 429 blocks the
// authorization until Braze's reset; a 5xx or a missing answer is retried
// a few times with jittered exponential backoff before it is returned. An
// accepted request makes the job ok (delivered).
//
// gate, when not nil, is a semaphore (capacity 1) that the requests of one
// sender take turns at while they wait on the limiter: one of them polls
// it, not every one, which would all wake at once for each token.
func (e *Engine) sendOne(ctx context.Context, acct, jobID, authID string, cl *braze.Client, lim ratelimit.Limit, b braze.Batch, c Counters, gate chan struct{}) (*braze.TrackResult, error) {
	failures := 0
	for {
		if err := e.reserve(ctx, acct, authID, lim, c, gate); err != nil {
			return nil, err
		}
		c["requests"]++
		res, err := cl.Send(ctx, b)
		status := 0
		if res != nil {
			status = res.Status
		}
		e.metrics.request(status)
		if res != nil && res.RateLimit.Present {
			// The headers only correct the limiter's pace: a request sent is
			// not undone because they could not be recorded.
			if oerr := e.limiter.Observe(ctx, acct, authID, lim, res.RateLimit.Remaining, res.RateLimit.Reset); oerr != nil {
				e.opts.Logger.WarnContext(ctx, "recording Braze's rate-limit headers failed", "account", acct, "job", jobID, "authorization", authID, "err", oerr)
			}
		}
		if err == nil {
			return res, e.delivered(ctx, acct, jobID)
		}
		var be *braze.Error
		if !errors.As(err, &be) {
			return nil, err
		}
		switch be.Class {
		case braze.RateLimited:
			c["rate_limited"]++
			if oerr := e.limiter.Observe(ctx, acct, authID, lim, 0, be.RetryAt); oerr != nil {
				return nil, fmt.Errorf("blocking the rate limit of authorization %s after a 429: %w", authID, oerr)
			}
			continue
		case braze.Permanent:
			return nil, permanent(be, "")
		}
		c["retried"]++
		failures++
		if failures >= retryAttempts || ctx.Err() != nil {
			return nil, be
		}
		if err := sleep(ctx, fault.Backoff(failures-1, retryBase, retryBase<<retryAttempts)); err != nil {
			return nil, be
		}
	}
}
