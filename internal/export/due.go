package export

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/redis/go-redis/v9"
)

// Kind of work.
type Kind int

// Kinds of work Due returns.
const (
	WorkFeed Kind = iota + 1
	WorkBackfill
	WorkSend
)

// Work is one task the pump should enqueue.
type Work struct {
	Kind    Kind
	Account string
	JobID   string
	// Slot numbers the senders of a job (0..Senders-1).
	Slot int
}

// Due inspects every active export job and returns the work needed now. It
// also opens a run when a job gets busy, closes it when the job is idle, and
// records progress.
func (e *Engine) Due(ctx context.Context) ([]Work, error) {
	members, err := e.rdb.SMembers(ctx, e.k.active()).Result()
	if err != nil {
		return nil, fmt.Errorf("listing export jobs: %w", err)
	}
	var out []Work
	var errs []error
	for _, m := range members {
		acct, jobID, ok := splitMember(m)
		if !ok {
			continue
		}
		w, err := e.due(ctx, acct, jobID)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s/%s: %w", acct, jobID, err))
			continue
		}
		out = append(out, w...)
	}
	return out, errors.Join(errs...)
}

// DueJob is Due for one job: workers call it after they mark users waiting,
// so that senders start at once instead of at the scheduler's next tick.
func (e *Engine) DueJob(ctx context.Context, acct, jobID string) ([]Work, error) {
	return e.due(ctx, acct, jobID)
}

func splitMember(m string) (string, string, bool) {
	for i := 0; i < len(m); i++ {
		if m[i] == '/' {
			return m[:i], m[i+1:], true
		}
	}
	return "", "", false
}

func (e *Engine) due(ctx context.Context, acct, jobID string) ([]Work, error) {
	j, err := e.jobs.Get(ctx, acct, jobID)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil, e.Teardown(ctx, acct, jobID)
	}
	if err != nil {
		return nil, err
	}
	if j.State == jobs.StateDeleted {
		return nil, e.Teardown(ctx, acct, jobID)
	}
	if j.State != jobs.StateRunning {
		return nil, nil
	}
	cfg, err := ParseConfig(j.Config)
	if err != nil {
		return nil, err
	}
	cursor, err := e.log.Cursor(ctx, acct, consumerName(jobID))
	if errors.Is(err, changelog.ErrNoConsumer) {
		return nil, e.Setup(ctx, j)
	}
	if err != nil {
		return nil, err
	}
	newer, err := e.log.Range(ctx, acct, cursor, 1)
	if err != nil {
		return nil, err
	}
	pipe := e.rdb.Pipeline()
	dirtyN := pipe.ZCard(ctx, e.k.dirty(acct, jobID))
	oldest := pipe.ZRangeWithScores(ctx, e.k.dirty(acct, jobID), 0, 0)
	inflightN := pipe.ZCard(ctx, e.k.inflight(acct, jobID))
	// Leases of a sender that died count as waiting: a sender reclaims them.
	expiredN := pipe.ZCount(ctx, e.k.inflight(acct, jobID), "-inf", strconv.FormatInt(e.nowMS(), 10))
	state := pipe.HMGet(ctx, e.k.state(acct, jobID), "bf_pending", "flush", "run", "bf_seen", "bf_total", "senders", "ident", "reconsider")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading export state: %w", err)
	}
	st := state.Val()
	if ident, _ := st[6].(string); ident != identifierOf(cfg) || st[7] == "1" {
		moved, err := e.reconsider(ctx, acct, jobID, cfg)
		if err != nil {
			return nil, err
		}
		// Without a schedule, they are sent now rather than when enough
		// wait; with one, at its next occurrence.
		if moved > 0 && j.Schedule == "" {
			if err := e.RequestFlush(ctx, acct, jobID); err != nil {
				return nil, err
			}
		}
	}
	bfPending := st[0] == "1"
	flushReq, _ := st[1].(string) // the token of the last flush request
	flush := flushReq != ""
	run, _ := st[2].(string)
	waiting, inFlight := dirtyN.Val(), inflightN.Val()
	if exp := expiredN.Val(); exp > 0 {
		waiting, inFlight = waiting+exp, inFlight-exp
		flush = true
	}

	var out []Work
	if len(newer) > 0 {
		out = append(out, Work{Kind: WorkFeed, Account: acct, JobID: jobID})
	}
	if bfPending && waiting < e.opts.HighWater {
		out = append(out, Work{Kind: WorkBackfill, Account: acct, JobID: jobID})
	}
	send := flush || bfPending
	if j.Schedule == "" && waiting > 0 {
		old := oldest.Val()
		send = send || waiting >= int64(cfg.FlushUsers) ||
			(len(old) > 0 && e.opts.Now().Sub(time.UnixMilli(int64(old[0].Score))) >= cfg.FlushInterval)
	}
	if send && waiting > 0 {
		want := atoi(st[5])
		if want < MinSenders {
			want = MinSenders // until a sender has read the job's limit
		}
		senders := min(want, int64(e.opts.Senders), (waiting+74)/75)
		for s := 0; s < int(senders); s++ {
			out = append(out, Work{Kind: WorkSend, Account: acct, JobID: jobID, Slot: s})
		}
	}
	// A run asked for while one of the job's audiences is still taking in
	// the existing profiles stays open, and its flush stands, so that the
	// members the evaluation adds are sent at once, as its backfill's are.
	// (A run stays open while changes wait to be read, too.)
	idle := waiting == 0 && inFlight == 0 && !bfPending
	evaluating := false
	if flushReq != "" && idle {
		if evaluating, err = e.aud.Evaluating(ctx, acct, cfg.Audiences); err != nil {
			return out, err
		}
	}
	busy := !idle || len(newer) > 0 || evaluating
	if flushReq != "" && !busy {
		// The log was read before the evaluation check: an evaluation
		// that ended in between wrote its changes after that read. Look
		// again before the run closes and its flush is withdrawn.
		unread, settled, err := e.settled(ctx, acct, jobID)
		if err != nil {
			return out, err
		}
		if unread {
			out = append(out, Work{Kind: WorkFeed, Account: acct, JobID: jobID})
		}
		busy = !settled
	}
	// A run opens when users are sent, not for a flush request that a
	// concurrent plan has just found done (it opened an empty run after
	// the one it closed).
	if err := e.trackRun(ctx, acct, jobID, run, busy, send && waiting > 0); err != nil {
		return out, err
	}
	// The flush also stands while the change log has entries this job has
	// not read: those an audience's evaluation wrote before it ended are
	// sent with the run too.
	if flushReq != "" && !busy {
		if err := e.clearFlush(ctx, acct, jobID, flushReq); err != nil {
			return out, err
		}
	}
	progress := map[string]any{"waiting": waiting, "in_flight": inFlight}
	if total := atoi(st[4]); total > 0 {
		frac := float64(atoi(st[3])) / float64(total)
		if !bfPending {
			frac = 1
		}
		progress["backfill_fraction"] = fmt.Sprintf("%.4f", min(frac, 1))
	}
	return out, e.jobs.SetProgress(ctx, acct, jobID, progress)
}

// settled reports whether the job has nothing left for its run: no
// change-log entry it has not read (unread) and no user waiting or in
// flight. It reads the log first: the feed marks users waiting before it
// moves its cursor, so a change is seen in one or the other.
func (e *Engine) settled(ctx context.Context, acct, jobID string) (unread, settled bool, err error) {
	cursor, err := e.log.Cursor(ctx, acct, consumerName(jobID))
	if err != nil {
		return false, false, err
	}
	newer, err := e.log.Range(ctx, acct, cursor, 1)
	if err != nil {
		return false, false, err
	}
	if len(newer) > 0 {
		return true, false, nil
	}
	pipe := e.rdb.Pipeline()
	waiting := pipe.ZCard(ctx, e.k.dirty(acct, jobID))
	inFlight := pipe.ZCard(ctx, e.k.inflight(acct, jobID))
	if _, err := pipe.Exec(ctx); err != nil {
		return false, false, fmt.Errorf("reading what job %s has waiting: %w", jobID, err)
	}
	return false, waiting.Val() == 0 && inFlight.Val() == 0, nil
}

// reconsiderSteps bounds how many steps (of reconsiderChunk users) one
// plan spends on the users omitted before an identifier change; the next
// plan goes on.
const (
	reconsiderSteps = 20
	reconsiderChunk = 1000
)

// reconsider records the job's identifier and, when it changed, makes the
// users omitted for want of the old one wait again, so that those who have
// the new one are sent. It returns how many users it moved.
func (e *Engine) reconsider(ctx context.Context, acct, jobID string, cfg Config) (int, error) {
	keys := []string{e.k.state(acct, jobID), e.k.omitted(acct, jobID), e.k.dirty(acct, jobID)}
	moved := 0
	for range reconsiderSteps {
		n, err := reconsiderScript.Run(ctx, e.rdb, keys, identifierOf(cfg), e.nowMS(), reconsiderChunk).Int()
		if err != nil {
			return moved, fmt.Errorf("considering again the users job %s omitted: %w", jobID, err)
		}
		moved += n
		if n == 0 {
			break
		}
	}
	return moved, nil
}
