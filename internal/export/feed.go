package export

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/redis/go-redis/v9"
)

// Feed moves the job's new change-log entries into its waiting set, up to
// max entries. It returns how many entries it read.
func (e *Engine) Feed(ctx context.Context, acct, jobID string, max int) (int, error) {
	j, err := e.jobs.Get(ctx, acct, jobID)
	if err != nil {
		return 0, err
	}
	cfg, err := ParseConfig(j.Config)
	if err != nil {
		return 0, err
	}
	retired, err := e.retired(ctx, acct, jobID)
	if err != nil {
		return 0, err
	}
	read := 0
	for read < max {
		entries, err := e.log.Read(ctx, acct, consumerName(jobID), 1000)
		if errors.Is(err, changelog.ErrGap) {
			// Slower than the log's retention: rebuild from current membership.
			if _, err := e.log.Reset(ctx, acct, consumerName(jobID)); err != nil {
				return read, err
			}
			if err := e.jobs.Log(ctx, acct, jobID, jobs.Entry{Level: "warn", Code: "changelog_gap", Message: "the change log was trimmed before this job read it; every current member is checked again"}); err != nil {
				return read, err
			}
			return read, e.startBackfill(ctx, acct, jobID, cfg.Audiences)
		}
		if errors.Is(err, changelog.ErrNoConsumer) {
			return read, e.Setup(ctx, j)
		}
		if err != nil {
			return read, err
		}
		if len(entries) == 0 {
			return read, nil
		}
		now := float64(e.nowMS())
		var zs []redis.Z
		for _, en := range entries {
			if slices.Contains(cfg.Audiences, en.Audience) || slices.Contains(retired, en.Audience) {
				zs = append(zs, redis.Z{Score: now, Member: en.ProfileID})
			}
		}
		if len(zs) > 0 {
			if err := e.rdb.ZAddNX(ctx, e.k.dirty(acct, jobID), zs...).Err(); err != nil {
				return read, fmt.Errorf("marking users of job %s: %w", jobID, err)
			}
		}
		if err := e.log.Commit(ctx, acct, consumerName(jobID), entries[len(entries)-1].ID); err != nil {
			return read, err
		}
		read += len(entries)
	}
	return read, nil
}

// BackfillChunk marks one chunk of current members as waiting. It returns
// true when the backfill is done.
func (e *Engine) BackfillChunk(ctx context.Context, acct, jobID string) (bool, error) {
	st, err := e.rdb.HMGet(ctx, e.k.state(acct, jobID), "bf_pending", "bf_cursor", "bf_auds", "rs_pending", "rs_cursor").Result()
	if err != nil {
		return false, fmt.Errorf("reading backfill of job %s: %w", jobID, err)
	}
	if p, _ := st[0].(string); p != "1" {
		return true, nil
	}
	if p, _ := st[3].(string); p == "1" {
		cur, _ := st[4].(string)
		return false, e.resendChunk(ctx, acct, jobID, cur)
	}
	cursor, _ := st[1].(string)
	s, _ := st[2].(string)
	auds, err := audienceList(s, "audiences of the backfill", jobID)
	if err != nil {
		return false, err
	}
	members, next, done, err := changelog.Backfill(ctx, e.aud, acct, auds, cursor, e.opts.BackfillChunk)
	if err != nil {
		return false, err
	}
	if len(members) > 0 {
		ids := make([]string, len(members))
		for i, m := range members {
			ids[i] = m.ProfileID
		}
		// A page holds members of one audience; those of the job's
		// audiences before it were met when the walk passed them.
		earlier := auds[:max(0, slices.Index(auds, members[0].Audience))]
		if err := e.markBackfilled(ctx, acct, jobID, ids, earlier); err != nil {
			return false, err
		}
	}
	doneFlag := "0"
	if done {
		doneFlag = "1"
	}
	if err := backfillStepScript.Run(ctx, e.rdb, []string{e.k.state(acct, jobID)}, cursor, next, doneFlag, len(members)).Err(); err != nil {
		return false, fmt.Errorf("moving backfill of job %s: %w", jobID, err)
	}
	return done, nil
}

// planPart is how many users of a backfill chunk one plan reads.
const planPart = 1000

// markBackfilled marks the users of a backfill chunk as waiting, except
// those that need nothing: a user whose state Braze accepted is its current
// state (planned as a sender would, so that a walk over members already
// sent costs no lease), and a user leased to a sender now (a user in
// several audiences is met once per audience, and a lease taken over would
// make the first sender forget what Braze accepted; a change made while
// the user is in flight is in the change log, which marks it again).
//
// A user already sent who is also in one of earlier (the job's audiences
// the walk passed before this chunk's) was checked there, and is skipped:
// a rerun plans each user once, however many of the job's audiences it is
// in.
func (e *Engine) markBackfilled(ctx context.Context, acct, jobID string, ids, earlier []string) error {
	sent, err := e.rdb.HMGet(ctx, e.k.sent(acct, jobID), ids...).Result()
	if err != nil {
		return fmt.Errorf("reading sent states of job %s: %w", jobID, err)
	}
	var known []string
	var knownSent []any
	mark := make([]string, 0, len(ids))
	for i, id := range ids {
		if s, _ := sent[i].(string); s != "" {
			known = append(known, id)
			knownSent = append(knownSent, sent[i])
		} else {
			mark = append(mark, id)
		}
	}
	if len(known) > 0 {
		j, err := e.jobs.Get(ctx, acct, jobID)
		if err != nil {
			return err
		}
		cfg, err := ParseConfig(j.Config)
		if err != nil {
			return err
		}
		retired, err := e.retired(ctx, acct, jobID)
		if err != nil {
			return err
		}
		// Planned in parts at once: their reads overlap.
		parts := make([][]*user, (len(known)+planPart-1)/planPart)
		errs := make([]error, len(parts))
		var wg sync.WaitGroup
		for i := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from, to := i*planPart, min((i+1)*planPart, len(known))
				ids, sent := known[from:to], knownSent[from:to]
				var auds map[string][]string
				if len(earlier) > 0 {
					if auds, errs[i] = e.aud.ProfilesAudiences(ctx, acct, ids); errs[i] != nil {
						return
					}
					ids, sent = metFirstHere(ids, sent, auds, earlier)
				}
				parts[i], errs[i] = e.planKnown(ctx, acct, jobID, cfg, retired, ids, sent, auds)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		var current []*user
		for _, users := range parts {
			for _, u := range users {
				if !u.complete || u.omitted != "" {
					mark = append(mark, u.id)
				} else {
					current = append(current, u)
				}
			}
		}
		if err := e.countUnchanged(ctx, acct, jobID, current); err != nil {
			return err
		}
	}
	if len(mark) == 0 {
		return nil
	}
	args := make([]any, 0, 1+len(mark))
	args = append(args, e.nowMS())
	for _, id := range mark {
		args = append(args, id)
	}
	if err := markScript.Run(ctx, e.rdb, []string{e.k.dirty(acct, jobID), e.k.inflight(acct, jobID)}, args...).Err(); err != nil {
		return fmt.Errorf("marking backfilled users of job %s: %w", jobID, err)
	}
	return nil
}

// countUnchanged counts the users of current, whose state Braze has, as
// unchanged in the job's run, as a sender would have: the run says how
// many it checked, and is opened here when the walk comes before the pump.
// A user Braze accepted since the run began was sent, and counted, in this
// run (the change feed sent it while the walk went on): it is not counted
// again (sentInRun).
func (e *Engine) countUnchanged(ctx context.Context, acct, jobID string, current []*user) error {
	if len(current) == 0 {
		return nil
	}
	runID, err := e.openRun(ctx, acct, jobID)
	if err != nil || runID == "" {
		return err
	}
	began, err := e.runBegan(ctx, acct, jobID, runID)
	if err != nil {
		return err
	}
	var unchanged int64
	for _, u := range current {
		if !sentInRun(u, began) {
			unchanged++
		}
	}
	if unchanged == 0 {
		return nil
	}
	if err := e.count(ctx, acct, jobID, runID, Counters{"unchanged": unchanged}); err != nil {
		return fmt.Errorf("counting unchanged users of job %s: %w", jobID, err)
	}
	return nil
}

// runBegan is when the job's run runID began (ms); with no run, never
// (math.MaxInt64: every user Braze has counts as unchanged).
func (e *Engine) runBegan(ctx context.Context, acct, jobID, runID string) (int64, error) {
	if runID == "" {
		return math.MaxInt64, nil
	}
	run, err := e.jobs.GetRun(ctx, acct, jobID, runID)
	if err != nil {
		return 0, fmt.Errorf("reading the run of job %s: %w", jobID, err)
	}
	return run.StartedAt.UnixMilli(), nil
}

// sentInRun tells whether Braze accepted u's current state since the run
// that began at began: the user was sent, and counted, in that run.
func sentInRun(u *user, began int64) bool { return u.acceptedAt >= began }

// metFirstHere keeps the users of ids (and their sent states) that are in
// none of the audiences earlier.
func metFirstHere(ids []string, sent []any, auds map[string][]string, earlier []string) ([]string, []any) {
	keptIDs, keptSent := ids[:0:0], sent[:0:0]
	for i, id := range ids {
		if !slices.ContainsFunc(auds[id], func(a string) bool { return slices.Contains(earlier, a) }) {
			keptIDs, keptSent = append(keptIDs, id), append(keptSent, sent[i])
		}
	}
	return keptIDs, keptSent
}

// Backfill marks chunks of current members as waiting until the walk is
// done, HighWater users wait, or budget is spent, so that senders never run
// dry while a backfill lasts (one chunk per scheduler tick would feed at
// most BackfillChunk users a second). It returns true when the walk is done.
func (e *Engine) Backfill(ctx context.Context, acct, jobID string, budget time.Duration) (bool, error) {
	deadline := time.Now().Add(budget)
	for {
		done, err := e.BackfillChunk(ctx, acct, jobID)
		if err != nil || done || time.Now().After(deadline) {
			return done, err
		}
		n, err := e.waiting(ctx, acct, jobID)
		if err != nil {
			return false, err
		}
		if n >= e.opts.HighWater {
			return false, nil
		}
	}
}

// drainPoll is how often AwaitDrain counts the users waiting.
const drainPoll = 20 * time.Millisecond

// AwaitDrain waits until senders have taken half of HighWater's waiting
// users, or until deadline. drained says they have; draining, that fewer
// users wait than when it began (senders are taking them, if slowly). A
// backfill walks on from there, so that users wait for the senders as fast
// as they send, rather than once per scheduler tick.
func (e *Engine) AwaitDrain(ctx context.Context, acct, jobID string, deadline time.Time) (drained, draining bool, err error) {
	first := int64(-1)
	for {
		n, err := e.waiting(ctx, acct, jobID)
		if err != nil {
			return false, false, err
		}
		if first < 0 {
			first = n
		}
		if n < e.opts.HighWater/2 {
			return true, true, nil
		}
		wait := min(drainPoll, time.Until(deadline))
		if wait <= 0 {
			return false, n < first, nil
		}
		if err := sleep(ctx, wait); err != nil {
			return false, n < first, err
		}
	}
}

// waiting counts the users of a job waiting to be sent.
func (e *Engine) waiting(ctx context.Context, acct, jobID string) (int64, error) {
	n, err := e.rdb.ZCard(ctx, e.k.dirty(acct, jobID)).Result()
	if err != nil {
		return 0, fmt.Errorf("counting waiting users of job %s: %w", jobID, err)
	}
	return n, nil
}
