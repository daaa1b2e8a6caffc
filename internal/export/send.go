package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/ratelimit"
)

// WaitError says the job must wait (Braze's rate limit) before sending more.
type WaitError struct{ Delay time.Duration }

func (e *WaitError) Error() string { return fmt.Sprintf("rate limited: wait %s", e.Delay) }

// PermanentError is a Braze answer no retry can fix (the job is failed).
type PermanentError struct{ Err *braze.Error }

func (e *PermanentError) Error() string { return e.Err.Error() }

// Counters of a send, added to the job's current run.
type Counters map[string]int64

// client returns the Braze client and limit of an authorization, cached
// until the authorization changes.
func (e *Engine) client(ctx context.Context, acct, authID string) (*braze.Client, ratelimit.Limit, error) {
	a, secrets, err := e.creds.Credentials(ctx, acct, authID)
	if err != nil {
		return nil, ratelimit.Limit{}, fmt.Errorf("reading authorization %s: %w", authID, err)
	}
	key := acct + "/" + authID
	e.mu.Lock()
	c, ok := e.clients[key]
	e.mu.Unlock()
	if ok && c.updated.Equal(a.UpdatedAt) {
		return c.client, c.limit, nil
	}
	batch, _ := authorizations.ConfigInt(a.Config, "batch_size", 75, 1, 75)
	reqs, _ := authorizations.ConfigInt(a.Config, "rate_limit", ratelimit.RequestsDefault, 1, 1_000_000)
	win, _ := authorizations.ConfigInt(a.Config, "rate_limit_window_seconds", 3, 1, 3600)
	cl, err := braze.New(braze.Options{Endpoint: authorizations.BrazeEndpoint(a), APIKey: secrets["api_key"], AllowInsecure: e.opts.AllowInsecure, BatchSize: batch, Logger: e.opts.Logger})
	if err != nil {
		return nil, ratelimit.Limit{}, &PermanentError{Err: &braze.Error{Class: braze.Permanent, Message: err.Error(), Hint: "fix the authorization"}}
	}
	lim := ratelimit.Limit{Requests: reqs, Per: time.Duration(win) * time.Second, Headroom: e.opts.Headroom}
	e.mu.Lock()
	if old, ok := e.clients[key]; ok {
		old.client.CloseIdleConnections()
	}
	e.clients[key] = cachedClient{updated: a.UpdatedAt, client: cl, limit: lim}
	e.mu.Unlock()
	return cl, lim, nil
}

// user is one leased user and what to send.
type user struct {
	id       string
	object   *braze.Object
	state    string // the state to remember once accepted ("" = forget)
	added    int
	removed  int
	omitted  string // reason, when nothing is sent
	complete bool   // nothing to send: done
}

const stateSep = "\x1f"

func parseState(s string) (ident string, in []string) {
	ident, rest, _ := strings.Cut(s, stateSep)
	if rest != "" {
		in = strings.Split(rest, ",")
	}
	return ident, in
}

func identValue(p *profiles.Profile, field string) string {
	if v, ok := p.Fields[field]; ok {
		switch x := v.(type) {
		case string:
			return x
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(x)
		case []string:
			if len(x) > 0 {
				return x[0]
			}
		}
	}
	if vs := p.Identities[field]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func identFromState(s string, cfg Config) (braze.Identifier, bool) {
	kind, value, ok := strings.Cut(s, "=")
	if !ok || value == "" {
		return braze.Identifier{}, false
	}
	return braze.Identifier{Kind: braze.IdentifierKind(kind), Value: value, AliasLabel: cfg.AliasLabel}, true
}

// plan decides, for each leased user, what to send.
func (e *Engine) plan(ctx context.Context, acct, jobID string, cfg Config, retired []string, ids []string) ([]*user, error) {
	ps, err := e.prof.GetMany(ctx, acct, ids)
	if err != nil {
		return nil, err
	}
	auds, err := e.aud.ProfilesAudiences(ctx, acct, ids)
	if err != nil {
		return nil, err
	}
	sent, err := e.rdb.HMGet(ctx, e.k.sent(acct, jobID), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading sent states of job %s: %w", jobID, err)
	}
	out := make([]*user, len(ids))
	for i, id := range ids {
		u := &user{id: id}
		out[i] = u
		prev, _ := sent[i].(string)
		prevIdent, prevIn := parseState(prev)
		p := ps[i]
		if p == nil {
			// Deleted or merged away: remove every audience of the job from
			// the Braze user we last sent, if any.
			bid, ok := identFromState(prevIdent, cfg)
			if !ok {
				u.omitted, u.complete = "profile deleted or merged before it was sent", true
				continue
			}
			obj := braze.Segments(bid, cfg.Attribute, nil, sortedUnique(append(slices.Clone(cfg.Audiences), retired...)))
			u.object, u.removed = &obj, len(prevIn)
			continue
		}
		value := identValue(p, cfg.IdentifierField)
		if value == "" {
			u.omitted, u.complete = fmt.Sprintf("no value in field %q", cfg.IdentifierField), true
			continue
		}
		var in []string
		for _, a := range auds[id] {
			if slices.Contains(cfg.Audiences, a) {
				in = append(in, a)
			}
		}
		in = sortedUnique(in)
		ident := string(cfg.IdentifierKind) + "=" + value
		u.state = ident + stateSep + strings.Join(in, ",")
		if prev == u.state {
			u.complete = true
			continue
		}
		var out []string
		for _, a := range cfg.Audiences {
			if !slices.Contains(in, a) {
				out = append(out, a)
			}
		}
		out = sortedUnique(append(out, retired...))
		bid := braze.Identifier{Kind: cfg.IdentifierKind, Value: value, AliasLabel: cfg.AliasLabel}
		obj := braze.Segments(bid, cfg.Attribute, in, out)
		u.object = &obj
		for _, a := range in {
			if !slices.Contains(prevIn, a) {
				u.added++
			}
		}
		for _, a := range prevIn {
			if !slices.Contains(in, a) {
				u.removed++
			}
		}
	}
	return out, nil
}

// Send leases waiting users of a job and sends them, batch after batch,
// until none wait or budget is spent. It returns true when users still wait.
// Errors: *WaitError (rate limited for longer than MaxInlineWait),
// *PermanentError (the job must fail), anything else retryable. Users of a
// batch that was not accepted return to waiting: nothing is lost.
func (e *Engine) Send(ctx context.Context, acct, jobID string, budget time.Duration) (more bool, err error) {
	deadline := time.Now().Add(budget)
	j, err := e.jobs.Get(ctx, acct, jobID)
	if err != nil {
		return false, err
	}
	if j.State != jobs.StateRunning {
		return false, nil
	}
	cfg, err := ParseConfig(j.Config)
	if err != nil {
		return false, err
	}
	cl, lim, err := e.client(ctx, acct, j.AuthorizationID)
	if err != nil {
		return false, err
	}
	retired, err := e.retired(ctx, acct, jobID)
	if err != nil {
		return false, err
	}
	runID := e.currentRun(ctx, acct, jobID)
	for time.Now().Before(deadline) {
		if cur, err := e.jobs.Get(ctx, acct, jobID); err != nil || cur.State != jobs.StateRunning {
			return false, err // paused or deleted: stop after the batch in flight
		}
		ids, err := claimScript.Run(ctx, e.rdb, []string{e.k.dirty(acct, jobID), e.k.inflight(acct, jobID)}, e.nowMS(), e.opts.Lease.Milliseconds(), cl.BatchSize()).StringSlice()
		if err != nil {
			return false, fmt.Errorf("leasing users of job %s: %w", jobID, err)
		}
		if len(ids) == 0 {
			return false, nil
		}
		c, err := e.sendBatch(ctx, acct, j, cfg, retired, cl, lim, ids)
		if runID != "" {
			_ = e.jobs.Count(ctx, acct, jobID, runID, c)
		}
		if err != nil {
			e.release(ctx, acct, jobID, ids)
			return true, err
		}
	}
	n, _ := e.rdb.ZCard(ctx, e.k.dirty(acct, jobID)).Result()
	return n > 0, nil
}

func (e *Engine) release(ctx context.Context, acct, jobID string, ids []string) {
	args := make([]any, 0, len(ids)+1)
	args = append(args, e.nowMS())
	for _, id := range ids {
		args = append(args, id)
	}
	_ = releaseScript.Run(context.WithoutCancel(ctx), e.rdb, []string{e.k.dirty(acct, jobID), e.k.inflight(acct, jobID)}, args...).Err()
}

// sendBatch plans and sends one leased batch. On success every user of ids
// is completed; on error none is (the caller releases them).
func (e *Engine) sendBatch(ctx context.Context, acct string, j *jobs.Job, cfg Config, retired []string, cl *braze.Client, lim ratelimit.Limit, ids []string) (Counters, error) {
	c := Counters{}
	users, err := e.plan(ctx, acct, j.ID, cfg, retired, ids)
	if err != nil {
		return c, err
	}
	var objects []braze.Object
	var sending []*user
	var omitted []string
	for _, u := range users {
		switch {
		case u.omitted != "":
			c["omitted"]++
			omitted = append(omitted, u.omitted)
		case u.complete:
			c["unchanged"]++
		default:
			objects = append(objects, *u.object)
			sending = append(sending, u)
		}
	}
	if len(omitted) > 0 {
		_ = e.jobs.Log(ctx, acct, j.ID, jobs.Entry{Level: "info", Code: "users_omitted", Message: fmt.Sprintf("%d users omitted, e.g. %s", len(omitted), omitted[0]), Counters: map[string]int64{"omitted": int64(len(omitted))}})
	}
	failed := map[int]string{}
	if len(objects) > 0 {
		batches, err := cl.Batches(objects)
		if err != nil {
			return c, &PermanentError{Err: &braze.Error{Class: braze.Permanent, Message: err.Error()}}
		}
		for _, b := range batches {
			res, err := e.sendOne(ctx, acct, j.AuthorizationID, cl, lim, b, c)
			if err != nil {
				return c, err
			}
			for _, oe := range res.Errors {
				if oe.Index >= 0 {
					failed[b.Offset+oe.Index] = oe.Type
				}
			}
		}
	}
	// Accepted: remember states, complete the lease.
	pipe := e.rdb.TxPipeline()
	for i, u := range sending {
		if msg, bad := failed[i]; bad {
			c["failed"]++
			_ = e.jobs.Log(ctx, acct, j.ID, jobs.Entry{Level: "warn", Code: "braze_rejected_user", Message: fmt.Sprintf("Braze rejected %s: %s", u.object.ID, msg), Counters: map[string]int64{"failed": 1}})
			continue
		}
		if u.state == "" {
			pipe.HDel(ctx, e.k.sent(acct, j.ID), u.id)
		} else {
			pipe.HSet(ctx, e.k.sent(acct, j.ID), u.id, u.state)
		}
		c["sent"]++
		c["added"] += int64(u.added)
		c["removed"] += int64(u.removed)
		c["data_points"]++
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	pipe.ZRem(ctx, e.k.inflight(acct, j.ID), members...)
	if _, err := pipe.Exec(ctx); err != nil {
		return c, fmt.Errorf("recording what Braze accepted for job %s: %w", j.ID, err)
	}
	return c, nil
}

// sendOne sends one request within the shared rate limit.
func (e *Engine) sendOne(ctx context.Context, acct, authID string, cl *braze.Client, lim ratelimit.Limit, b braze.Batch, c Counters) (*braze.TrackResult, error) {
	for {
		wait, err := e.limiter.Reserve(ctx, acct, authID, lim)
		if err != nil {
			return nil, err
		}
		if wait > 0 {
			c["rate_limit_waits"]++
			if wait > e.opts.MaxInlineWait {
				return nil, &WaitError{Delay: wait}
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			continue
		}
		c["requests"]++
		res, err := cl.Send(ctx, b)
		if res != nil && res.RateLimit.Present {
			_ = e.limiter.Observe(ctx, acct, authID, lim, res.RateLimit.Remaining, res.RateLimit.Reset)
		}
		if err == nil {
			return res, nil
		}
		var be *braze.Error
		if !errors.As(err, &be) {
			return nil, err
		}
		switch be.Class {
		case braze.RateLimited:
			c["rate_limited"]++
			_ = e.limiter.Observe(ctx, acct, authID, lim, 0, be.RetryAt)
			continue
		case braze.Permanent:
			return nil, &PermanentError{Err: be}
		default:
			return nil, be
		}
	}
}
