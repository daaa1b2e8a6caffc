package export

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/redislock"
)

// Send leases waiting users of a job and sends them, several requests at
// once (see sender), until none wait or budget is spent. It returns true
// when users still wait.
//
// slot numbers the job's concurrent senders (slot mod Senders; see
// SuccessorSlot): a sender holds its slot in Redis for as long as it runs (a
// lease renewed at every lease of users), so a duplicate task for the same slot returns
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
	began, err := e.runBegan(ctx, acct, jobID, runID)
	if err != nil {
		return false, err
	}
	sn := &sender{e: e, acct: acct, j: j, cfg: cfg, retired: retired, cl: cl, lim: lim, runID: runID, began: began, gate: make(chan struct{}, 1)}
	if err := sn.run(ctx, slot, slotKey, token, deadline); err != nil {
		return true, err
	}
	// Counted even when a claim found none: a backfill may have marked
	// users since, whose senders it could not start while this one ran.
	n, err := e.waiting(ctx, acct, jobID)
	return err != nil || n > 0, err
}

// sender is one send task's work: a preparer (this task's goroutine) leases
// and plans users a few requests at a time and hands each request's worth
// (a batch) to InFlight delivery goroutines, which send it within the shared
// rate limit and record what Braze accepted, each batch on its own. A
// workspace's requests thus overlap their Redis reads, Braze's answers and
// their Redis writes, and one task keeps several requests in flight.
//
// Every batch holds its own users' leases: a batch that fails releases only
// its users; one that Braze accepted completes them. A crash of the worker
// leaves the leases of the batches in flight to expire, and those users are
// sent again (and counted again) by the next sender: state-based delivery
// makes a request sent twice harmless.
type sender struct {
	e       *Engine
	acct    string
	j       *jobs.Job
	cfg     Config
	retired []string
	cl      *braze.Client
	lim     ratelimit.Limit
	runID   string
	began   int64 // when the run began (ms; runBegan)

	// dry: a claim found no user waiting.
	dry atomic.Bool
	// gate: the turn of this sender's requests at the limiter.
	gate chan struct{}

	mu  sync.Mutex
	err error
}

// batch is one request's worth of leased users, planned.
type batch struct {
	leased  []lease // every user the batch completes
	sending []*user // those with an object, in request order
	req     braze.Batch
	noIdent map[string]bool
	c       Counters
	// until is when the batch's request is abandoned: well before the
	// first lease of its users ends, so that no other sender can have
	// claimed them meanwhile.
	until time.Time
}

// fail records the task's first error.
func (s *sender) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *sender) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// run prepares batches until none wait, the budget is spent or a batch
// fails, while InFlight goroutines deliver them; it returns when every
// batch it leased is completed or released.
func (s *sender) run(ctx context.Context, slot int, slotKey, token string, deadline time.Time) error {
	e := s.e
	lanes := e.lanesFor(s.lim)
	queue := make(chan *batch, max(1, lanes/2))
	var wg sync.WaitGroup
	for range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range queue {
				if s.failed() != nil {
					// Another batch failed: the task ends, these users wait again.
					s.fail(e.release(ctx, s.acct, s.j.ID, b.leased))
					continue
				}
				if err := s.deliver(ctx, b); err != nil {
					s.fail(err)
				}
			}
		}()
	}
	// Preparing a batch (leases and reads) takes about as long as sending
	// one: with many lanes, two preparers keep them fed.
	var pg sync.WaitGroup
	for range min(preparers, lanes) {
		pg.Add(1)
		go func() {
			defer pg.Done()
			s.produce(ctx, queue, lanes, slot, slotKey, token, deadline)
		}()
	}
	pg.Wait()
	close(queue)
	wg.Wait()
	return s.failed()
}

// preparers is how many goroutines of a sender lease and plan batches.
const preparers = 2

// produce leases and plans batches into queue until none wait, the budget
// is spent, the slot is lost, the job stops or a batch fails.
func (s *sender) produce(ctx context.Context, queue chan<- *batch, lanes, slot int, slotKey, token string, deadline time.Time) {
	e := s.e
	for first := true; first || time.Now().Before(deadline); first = false {
		if s.failed() != nil {
			return
		}
		held, err := redislock.Acquire(ctx, e.rdb, slotKey, token, e.opts.Lease)
		if err != nil {
			s.fail(fmt.Errorf("holding sender slot %d of job %s: %w", slot, s.j.ID, err))
			return
		}
		if !held {
			return // another sender runs this slot
		}
		if cur, err := e.jobs.Get(ctx, s.acct, s.j.ID); err != nil || cur.State != jobs.StateRunning {
			s.fail(err)
			return // paused or deleted: stop after the batches in flight
		}
		batches, err := s.prepare(ctx, lanes)
		if err != nil {
			s.fail(bookkept(err, e.reportProblem(ctx, s.acct, s.j.ID, s.runID, err, nil)))
			return
		}
		for _, b := range batches {
			queue <- b
		}
		if s.dry.Load() {
			return
		}
	}
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

// prepare leases waiting users until it has depth requests' worth of
// objects to send (or none wait), plans them and splits them into batches.
// Users that need no request are completed at once when no batch is sent,
// else with the first batch. A surplus beyond depth full requests goes
// back to waiting: a request is a rate-limit token, and is sent full.
func (s *sender) prepare(ctx context.Context, depth int) ([]*batch, error) {
	e, acct, j, cl := s.e, s.acct, s.j, s.cl
	target := depth * cl.BatchSize()
	var leased []lease
	var objects []braze.Object
	var sending []*user
	var omitted []string
	c := Counters{}
	noIdent := map[string]bool{}
	var since time.Time
	for claims := 0; claims < maxClaims && len(objects) < target; claims++ {
		// Later claims are sized by the share of users that needed sending
		// so far (a backfill's later audiences mostly hold users already
		// sent), so that filling requests takes few Redis reads.
		need := target - len(objects)
		n := need
		if len(leased) > 0 {
			share := max(float64(len(objects))/float64(len(leased)), 0.1)
			n = min(max(int(float64(need)/share), need), maxClaimSize*depth)
		}
		if since.IsZero() {
			since = time.Now()
		}
		got, err := e.claim(ctx, acct, j.ID, n)
		if err != nil {
			return nil, errors.Join(err, e.release(ctx, acct, j.ID, leased))
		}
		if len(got) == 0 {
			s.dry.Store(true)
			break
		}
		leased = append(leased, got...)
		ids := make([]string, len(got))
		for i, l := range got {
			ids[i] = l.id
		}
		users, err := e.plan(ctx, acct, j.ID, s.cfg, s.retired, ids)
		if err != nil {
			return nil, errors.Join(err, e.release(ctx, acct, j.ID, leased))
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
				// Not again when this run sent it (a backfill met it).
				if !sentInRun(u, s.began) {
					c["unchanged"]++
				}
			default:
				objects = append(objects, *u.object)
				sending = append(sending, u)
			}
		}
	}
	if len(leased) == 0 {
		return nil, nil
	}
	if extra := len(objects) - target; extra > 0 {
		surplus := map[string]bool{}
		for _, u := range sending[target:] {
			surplus[u.id] = true
		}
		objects, sending = objects[:target], sending[:target]
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
			return nil, errors.Join(err, e.release(ctx, acct, j.ID, kept))
		}
		leased = kept
	}
	if len(omitted) > 0 {
		if err := e.jobs.Log(ctx, acct, j.ID, jobs.Entry{Level: "info", Code: "users_omitted", Message: fmt.Sprintf("%d users omitted, e.g. %s", len(omitted), omitted[0]), Counters: map[string]int64{"omitted": int64(len(omitted))}}); err != nil {
			return nil, errors.Join(err, e.release(ctx, acct, j.ID, leased))
		}
	}
	until := since.Add(e.opts.Lease - e.opts.Lease/5)
	if len(objects) == 0 {
		// Nothing to send: complete the users here.
		b := &batch{leased: leased, noIdent: noIdent, c: c, until: until}
		return nil, s.complete(ctx, b, nil)
	}
	reqs, err := cl.Batches(objects)
	if err != nil {
		return nil, errors.Join(permanent(&braze.Error{Class: braze.Permanent, Message: err.Error()}, CodePayload), e.release(ctx, acct, j.ID, leased))
	}
	// Each batch holds the leases of its own users; the first also those
	// that need no request.
	slot := make(map[string]int, len(sending))
	for i, r := range reqs {
		for k := range r.Objects {
			slot[sending[r.Offset+k].id] = i
		}
	}
	out := make([]*batch, len(reqs))
	for i, r := range reqs {
		out[i] = &batch{sending: sending[r.Offset : r.Offset+len(r.Objects)], req: r, noIdent: map[string]bool{}, c: Counters{}, until: until}
	}
	out[0].c, out[0].noIdent = c, noIdent
	for _, l := range leased {
		i, ok := slot[l.id]
		if !ok {
			i = 0
		}
		out[i].leased = append(out[i].leased, l)
	}
	return out, nil
}

// deliver sends a batch within the shared rate limit and completes its
// users. On error its users go back to waiting.
func (s *sender) deliver(ctx context.Context, b *batch) error {
	e, acct, jobID := s.e, s.acct, s.j.ID
	// The batch's request is abandoned well before its first lease ends.
	bctx, cancel := context.WithDeadline(ctx, b.until)
	defer cancel()
	res, err := e.sendOne(bctx, acct, jobID, s.j.AuthorizationID, s.cl, s.lim, b.req, b.c, s.gate)
	if err != nil {
		e.metrics.usersDone(b.c)
		return bookkept(err, errors.Join(
			e.release(ctx, acct, jobID, b.leased),
			e.count(ctx, acct, jobID, s.runID, b.c),
			e.reportProblem(ctx, acct, jobID, s.runID, err, b.c)))
	}
	failed := map[int]string{}
	for _, oe := range res.Errors {
		if oe.Index >= 0 {
			failed[oe.Index] = oe.Type // the index in this request
		}
	}
	if s.cfg.UpdateExistingOnly {
		b.c[CounterNotInBraze] += notUpdated(b.req, res)
	}
	return s.complete(ctx, b, failed)
}

// complete records what Braze accepted for a batch (failed: the indexes of
// the objects it rejected), ends its users' leases and counts them in the
// job's current run.
func (s *sender) complete(ctx context.Context, b *batch, failed map[int]string) error {
	e, acct, j, c := s.e, s.acct, s.j, b.c
	ops := make(map[string][2]string, len(b.sending))
	rejected := map[string]string{}
	for i, u := range b.sending {
		if msg, bad := failed[i]; bad {
			c["failed"]++
			rejected[u.id] = msg
			if err := e.jobs.Log(ctx, acct, j.ID, jobs.Entry{Level: "warn", Code: "braze_rejected_user", Message: fmt.Sprintf("Braze rejected %s: %s", u.object.ID, msg), Counters: map[string]int64{"failed": 1}}); err != nil {
				return errors.Join(err, e.release(ctx, acct, j.ID, b.leased))
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
		return errors.Join(err, e.release(ctx, acct, j.ID, b.leased))
	}
	runID := s.runID
	if runID == "" && len(b.sending) > 0 {
		// A sender that started before the job had a run sent users: they
		// are counted in the run that is open now, opened here if the pump
		// has not opened it yet, never in none (and before the time Braze
		// accepted them is taken, which a backfill compares with the run's
		// start).
		var err error
		if runID, err = e.openRun(ctx, acct, j.ID); err != nil {
			return errors.Join(err, e.release(ctx, acct, j.ID, b.leased))
		}
	}
	// The counters go to the run in the same step (completeScript).
	args := make([]any, 0, 4+2*len(c)+4*len(b.leased))
	args = append(args, e.nowMS(), identifierOf(s.cfg), jobs.CounterField("leases_lost"), 0)
	keys := []string{e.k.dirty(acct, j.ID), e.k.inflight(acct, j.ID), e.k.sent(acct, j.ID), e.k.omitted(acct, j.ID), e.k.state(acct, j.ID)}
	if runID != "" {
		keys = append(keys, e.jobs.RunKey(acct, j.ID, runID))
		n := 0
		for k, v := range c {
			if v != 0 {
				args = append(args, jobs.CounterField(k), v)
				n++
			}
		}
		args[3] = n
	}
	for _, l := range b.leased {
		op, ok := ops[l.id]
		switch {
		case ok:
		case b.noIdent[l.id]:
			op = [2]string{"o", ""}
		default:
			op = [2]string{"k", ""}
		}
		args = append(args, l.id, l.deadline, op[0], op[1])
	}
	lost, err := completeScript.Run(context.WithoutCancel(ctx), e.rdb, keys, args...).Int64()
	if err != nil {
		// The leases end by themselves: these users are sent again.
		return fmt.Errorf("recording what Braze accepted for job %s: %w", j.ID, err)
	}
	if lost > 0 {
		c["leases_lost"] += lost
		e.metrics.lost(lost)
	}
	e.metrics.usersDone(c)
	return e.resendIfRepresentationChanged(context.WithoutCancel(ctx), acct, j.ID, s.cfg, b.leased)
}
