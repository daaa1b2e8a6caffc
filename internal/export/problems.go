package export

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
)

// Codes of delivery problems: a job's last_error.code and the code of its
// log entries about them. A permanent answer is braze_<status> (braze_400,
// braze_401, braze_403, braze_404, braze_413, ...).
const (
	// CodeUnreachable: no answer from Braze (refused or dropped
	// connection, timeout, unknown host); retried.
	CodeUnreachable = "braze_unreachable"
	// Code5xx: Braze answered 5xx (or 408) through every retry of a
	// request; retried.
	Code5xx = "braze_5xx"
	// CodeConfig: the authorization cannot make a Braze client (endpoint,
	// key); the job fails.
	CodeConfig = "braze_config"
	// CodePayload: a user's object cannot be sent in any request; the job
	// fails.
	CodePayload = "braze_payload"
)

// okRecheck is how long an engine trusts that a job it saw ok still is,
// before a success asks Redis again: a problem reported by another worker
// is cleared within this time of a success here.
const okRecheck = 2 * time.Second

// problemOf returns the delivery problem err is, with the counters of the
// batch that met it; ok is false for errors that are not about delivery
// (rate-limit waits, Redis, a cancelled context).
func problemOf(err error, c Counters) (jobs.Problem, bool) {
	counts := map[string]int64{"requests": c["requests"], "retried": c["retried"], "failed": c["retried"]}
	var pe *fault.PermanentError
	if errors.As(err, &pe) {
		counts["failed"]++
		return jobs.Problem{Code: pe.Code, Message: pe.Err.Error(), Permanent: true, Counters: counts}, true
	}
	var be *braze.Error
	if !errors.As(err, &be) || be.Class != braze.Retryable {
		return jobs.Problem{}, false
	}
	if be.Status == 0 {
		return jobs.Problem{Code: CodeUnreachable, Counters: counts,
			Message: fmt.Sprintf("Braze cannot be reached: %s; check the authorization's instance or REST endpoint and that the workers can reach it (retried with backoff)", be.Message)}, true
	}
	msg := fmt.Sprintf("Braze answered %d %s", be.Status, http.StatusText(be.Status))
	if be.Message != "" {
		msg += ": " + be.Message
	}
	return jobs.Problem{Code: Code5xx, Counters: counts, Message: msg + "; Braze is failing, requests are retried with backoff"}, true
}

// reportProblem records a failed delivery of a job in its health (and its
// log, bounded there). Errors that are not about delivery are not.
func (e *Engine) reportProblem(ctx context.Context, acct, jobID, runID string, err error, c Counters) error {
	p, ok := problemOf(err, c)
	if !ok {
		return nil
	}
	p.RunID = runID
	e.mu.Lock()
	delete(e.okSeen, member(acct, jobID))
	e.mu.Unlock()
	if rerr := e.jobs.ReportProblem(context.WithoutCancel(ctx), acct, jobID, p); rerr != nil {
		return fmt.Errorf("recording the delivery problem of job %s: %w", jobID, rerr)
	}
	return nil
}

// delivered records a request Braze accepted: a job whose deliveries
// failed is ok again. A job seen ok in the last okRecheck is not checked
// again, so that successes cost no Redis call.
func (e *Engine) delivered(ctx context.Context, acct, jobID string) error {
	key := member(acct, jobID)
	now := time.Now()
	e.mu.Lock()
	seen, ok := e.okSeen[key]
	e.mu.Unlock()
	if ok && now.Sub(seen) < okRecheck {
		return nil
	}
	if _, err := e.jobs.ReportOK(ctx, acct, jobID); err != nil {
		return fmt.Errorf("recording the delivery of job %s: %w", jobID, err)
	}
	e.mu.Lock()
	if len(e.okSeen) > 10_000 {
		clear(e.okSeen) // bounded: at worst one more check per job
	}
	e.okSeen[key] = now
	e.mu.Unlock()
	return nil
}
