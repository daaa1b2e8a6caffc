package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/redislock"
)

// Send leases waiting users of a job and sends them, batch after batch,
// until none wait or budget is spent. It returns true when users still wait.
//
// slot numbers the job's concurrent senders (slot mod Senders; see
// SuccessorSlot): a sender holds its slot in Redis for as long as it runs (a
// lease renewed every batch), so a duplicate task for the same slot returns
// at once and a dead sender's slot frees itself after Lease.
//
// Errors: *fault.WaitError (rate limited for longer than MaxInlineWait),
// *fault.PermanentError (the job must fail), anything else retryable. Users of a
// batch that was not accepted return to waiting: nothing is lost.
func (e *Engine) Send(ctx context.Context, acct, jobID string, slot int, budget time.Duration) (more bool, err error) {
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
		runID, rerr := e.currentRun(ctx, acct, jobID)
		if rerr == nil {
			rerr = e.reportProblem(ctx, acct, jobID, runID, err, nil)
		}
		return false, bookkept(err, rerr)
	}
	retired, err := e.retired(ctx, acct, jobID)
	if err != nil {
		return false, err
	}
	// Tell the pump how many senders this job's limit keeps busy.
	if err := e.rdb.HSet(ctx, e.k.state(acct, jobID), "senders", e.sendersFor(lim)).Err(); err != nil {
		return false, fmt.Errorf("recording senders of job %s: %w", jobID, err)
	}
	token := redislock.NewToken()
	slotKey := e.k.slot(acct, jobID, slot%e.opts.Senders)
	defer func() {
		// A slot not released frees itself when its lease ends.
		if _, rerr := redislock.Release(context.WithoutCancel(ctx), e.rdb, slotKey, token); rerr != nil {
			e.opts.Logger.WarnContext(ctx, "releasing a sender slot failed; it frees itself after its lease", "account", acct, "job", jobID, "slot", slot, "err", rerr)
		}
	}()
	runID, err := e.currentRun(ctx, acct, jobID)
	if err != nil {
		return false, err
	}
	for first := true; first || time.Now().Before(deadline); first = false {
		held, err := redislock.Acquire(ctx, e.rdb, slotKey, token, e.opts.Lease)
		if err != nil {
			return false, fmt.Errorf("holding sender slot %d of job %s: %w", slot, jobID, err)
		}
		if !held {
			return false, nil // another sender runs this slot
		}
		if cur, err := e.jobs.Get(ctx, acct, jobID); err != nil || cur.State != jobs.StateRunning {
			return false, err // paused or deleted: stop after the batch in flight
		}
		// The batch's request is abandoned well before its first lease ends,
		// so that no other sender can have claimed the users meanwhile.
		bctx, cancel := context.WithTimeout(ctx, e.opts.Lease-e.opts.Lease/5)
		c, leased, err := e.sendBatch(bctx, acct, j, cfg, retired, cl, lim)
		cancel()
		if len(leased) == 0 && err == nil {
			return false, nil
		}
		e.metrics.usersDone(c)
		if err != nil {
			return true, bookkept(err, errors.Join(
				e.release(ctx, acct, jobID, leased),
				e.count(ctx, acct, jobID, runID, c),
				e.reportProblem(ctx, acct, jobID, runID, err, c)))
		}
		if err := e.count(ctx, acct, jobID, runID, c); err != nil {
			return true, err
		}
	}
	n, err := e.rdb.ZCard(ctx, e.k.dirty(acct, jobID)).Result()
	if err != nil {
		return true, fmt.Errorf("counting waiting users of job %s: %w", jobID, err)
	}
	return n > 0, nil
}

// bookkept returns err, or, when recording it failed (berr), an error to
// retry (neither a wait nor permanent) that says both.
func bookkept(err, berr error) error {
	if berr == nil {
		return err
	}
	return fmt.Errorf("%v; recording it: %w", err, berr)
}

// count adds a batch's counters to the job's current run, if any.
func (e *Engine) count(ctx context.Context, acct, jobID, runID string, c Counters) error {
	if runID == "" {
		return nil
	}
	return e.jobs.Count(context.WithoutCancel(ctx), acct, jobID, runID, c)
}

// SuccessorSlot is the slot number of the task that continues a sender's
// work: the same slot (slot mod Senders) under another number, so that its
// task is not a copy of the one finishing.
func (e *Engine) SuccessorSlot(slot int) int {
	n := e.opts.Senders
	return (slot%n + n*(1-(slot/n)%2)) % (2 * n)
}

// lease is one leased user.
type lease struct {
	id       string
	deadline int64 // ms
}

// maxClaims bounds the claims that fill one batch: users whose state Braze
// already has (a backfill meets a user once per audience) leave room that
// more claims fill, so that requests stay full.
const maxClaims = 8

// maxClaimSize bounds one claim (and so the requests one batch may need).
const maxClaimSize = 600

// claim leases up to n waiting users.
func (e *Engine) claim(ctx context.Context, acct, jobID string, n int) ([]lease, error) {
	now := e.nowMS()
	ids, err := claimScript.Run(ctx, e.rdb, []string{e.k.dirty(acct, jobID), e.k.inflight(acct, jobID)}, now, e.opts.Lease.Milliseconds(), n).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("leasing users of job %s: %w", jobID, err)
	}
	out := make([]lease, len(ids))
	for i, id := range ids {
		out[i] = lease{id: id, deadline: now + e.opts.Lease.Milliseconds()}
	}
	return out, nil
}

// release gives a batch's users back to waiting (its request failed), those
// whose lease is still the batch's. Users it could not release come back
// when their lease ends.
func (e *Engine) release(ctx context.Context, acct, jobID string, leased []lease) error {
	if len(leased) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(leased)+1)
	args = append(args, e.nowMS())
	for _, l := range leased {
		args = append(args, l.id, l.deadline)
	}
	if err := releaseScript.Run(context.WithoutCancel(ctx), e.rdb, []string{e.k.dirty(acct, jobID), e.k.inflight(acct, jobID)}, args...).Err(); err != nil {
		return fmt.Errorf("returning %d users of job %s to waiting: %w", len(leased), jobID, err)
	}
	return nil
}

// sendBatch leases waiting users until it has a full request's worth to
// send (or none wait), plans them, sends them and completes their leases.
// It returns the users it leased; on error none is completed (the caller
// releases them).
func (e *Engine) sendBatch(ctx context.Context, acct string, j *jobs.Job, cfg Config, retired []string, cl *braze.Client, lim ratelimit.Limit) (Counters, []lease, error) {
	c := Counters{}
	var leased []lease
	var objects []braze.Object
	var sending []*user
	var omitted []string
	noIdent := map[string]bool{}
	for claims := 0; claims < maxClaims && len(objects) < cl.BatchSize(); claims++ {
		// Later claims are sized by the share of users that needed sending
		// so far (a backfill's later audiences mostly hold users already
		// sent), so that filling a request takes few Redis reads.
		need := cl.BatchSize() - len(objects)
		n := need
		if len(leased) > 0 {
			share := max(float64(len(objects))/float64(len(leased)), 0.1)
			n = min(max(int(float64(need)/share), need), maxClaimSize)
		}
		got, err := e.claim(ctx, acct, j.ID, n)
		if err != nil {
			return c, leased, err
		}
		if len(got) == 0 {
			break
		}
		leased = append(leased, got...)
		ids := make([]string, len(got))
		for i, l := range got {
			ids[i] = l.id
		}
		users, err := e.plan(ctx, acct, j.ID, cfg, retired, ids)
		if err != nil {
			return c, leased, err
		}
		for _, u := range users {
			switch {
			case u.omitted != "":
				c["omitted"]++
				omitted = append(omitted, u.omitted)
				if u.noIdent {
					noIdent[u.id] = true
				}
			case u.complete:
				c["unchanged"]++
			default:
				objects = append(objects, *u.object)
				sending = append(sending, u)
			}
		}
	}
	if len(leased) == 0 {
		return c, nil, nil
	}
	if extra := len(objects) - cl.BatchSize(); extra > 0 {
		// A request is a rate-limit token: send a full one and give the
		// surplus back to waiting rather than spend a token on a few.
		surplus := map[string]bool{}
		for _, u := range sending[cl.BatchSize():] {
			surplus[u.id] = true
		}
		objects, sending = objects[:cl.BatchSize()], sending[:cl.BatchSize()]
		var back []lease
		kept := leased[:0:0]
		for _, l := range leased {
			if surplus[l.id] {
				back = append(back, l)
			} else {
				kept = append(kept, l)
			}
		}
		if err := e.release(ctx, acct, j.ID, back); err != nil {
			return c, kept, err
		}
		leased = kept
	}
	if len(omitted) > 0 {
		if err := e.jobs.Log(ctx, acct, j.ID, jobs.Entry{Level: "info", Code: "users_omitted", Message: fmt.Sprintf("%d users omitted, e.g. %s", len(omitted), omitted[0]), Counters: map[string]int64{"omitted": int64(len(omitted))}}); err != nil {
			return c, leased, err
		}
	}
	failed := map[int]string{}
	if len(objects) > 0 {
		batches, err := cl.Batches(objects)
		if err != nil {
			return c, leased, permanent(&braze.Error{Class: braze.Permanent, Message: err.Error()}, CodePayload)
		}
		for _, b := range batches {
			res, err := e.sendOne(ctx, acct, j.ID, j.AuthorizationID, cl, lim, b, c)
			if err != nil {
				return c, leased, err
			}
			for _, oe := range res.Errors {
				if oe.Index >= 0 {
					failed[b.Offset+oe.Index] = oe.Type
				}
			}
			if cfg.UpdateExistingOnly {
				c[CounterNotInBraze] += notUpdated(b, res)
			}
		}
	}
	// Accepted: remember states and end the leases.
	ops := map[string][2]string{}
	rejected := map[string]string{}
	for i, u := range sending {
		if msg, bad := failed[i]; bad {
			c["failed"]++
			rejected[u.id] = msg
			if err := e.jobs.Log(ctx, acct, j.ID, jobs.Entry{Level: "warn", Code: "braze_rejected_user", Message: fmt.Sprintf("Braze rejected %s: %s", u.object.ID, msg), Counters: map[string]int64{"failed": 1}}); err != nil {
				return c, leased, err
			}
			continue
		}
		if u.state == "" {
			ops[u.id] = [2]string{"d", ""}
		} else {
			ops[u.id] = [2]string{"s", u.state}
		}
		c["sent"]++
		c["added"] += int64(u.added)
		c["removed"] += int64(u.removed)
		c["data_points"] += int64(u.dataPoints)
	}
	if err := e.recordRejected(ctx, acct, j.ID, rejected); err != nil {
		return c, leased, err
	}
	args := make([]any, 0, 2+4*len(leased))
	args = append(args, e.nowMS(), identifierOf(cfg))
	for _, l := range leased {
		op, ok := ops[l.id]
		switch {
		case ok:
		case noIdent[l.id]:
			op = [2]string{"o", ""}
		default:
			op = [2]string{"k", ""}
		}
		args = append(args, l.id, l.deadline, op[0], op[1])
	}
	keys := []string{e.k.dirty(acct, j.ID), e.k.inflight(acct, j.ID), e.k.sent(acct, j.ID), e.k.omitted(acct, j.ID), e.k.state(acct, j.ID)}
	lost, err := completeScript.Run(context.WithoutCancel(ctx), e.rdb, keys, args...).Int64()
	if err != nil {
		return c, leased, fmt.Errorf("recording what Braze accepted for job %s: %w", j.ID, err)
	}
	if lost > 0 {
		c["leases_lost"] += lost
		e.metrics.lost(lost)
	}
	if err := e.resendIfRepresentationChanged(context.WithoutCancel(ctx), acct, j.ID, cfg, leased); err != nil {
		return c, nil, err
	}
	return c, leased, nil
}
