package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/wire"
	"github.com/redis/go-redis/v9"
)

// Outcomes of a run.
const (
	OutcomeRunning = "running"
	OutcomeSuccess = "success"
	// OutcomePartial: the run finished but some records failed.
	OutcomePartial = "partial"
	OutcomeFailed  = "failed"
)

// Run is one run of a job, with its counters (the API's document).
type Run = wire.Run

// Entry is one line of a job's log (the API's document).
type Entry = wire.LogEntry

const (
	runsKept = 100
	logKept  = 1000
)

func (s *Store) runsKey(account, id string) string { return s.ns.Account(account, "job", id, "runs") }
func (s *Store) runKey(account, id, runID string) string {
	return s.ns.Account(account, "job", id, "run", runID)
}

// RunKey is the Redis hash of a run, for a script of another package that
// counts into the run in the same step as its own writes (HINCRBY of
// CounterField); it shares the account's hash tag.
func (s *Store) RunKey(account, id, runID string) string { return s.runKey(account, id, runID) }

// CounterField is the field of a run's hash that holds the counter name.
func CounterField(name string) string { return "c:" + name }

func (s *Store) progressKey(account, id string) string {
	return s.ns.Account(account, "job", id, "progress")
}
func (s *Store) logKey(account, id string) string { return s.ns.Account(account, "job", id, "log") }

// NewRunID returns a random run id, for a caller that must name a run
// before it starts it.
func NewRunID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "run_" + hex.EncodeToString(b)
}

// StartRun records the start of a run and returns it. runID names the run
// ("" for a random id); starting a run that exists (a retried task) returns
// the existing run.
func (s *Store) StartRun(ctx context.Context, account, id, runID, trigger string) (*Run, error) {
	if runID == "" {
		runID = NewRunID()
	}
	switch r, err := s.GetRun(ctx, account, id, runID); {
	case err == nil:
		return r, nil
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	r := &Run{ID: runID, Trigger: trigger, StartedAt: s.now().UTC(), Outcome: OutcomeRunning, Counters: map[string]int64{}}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.runKey(account, id, r.ID), "trigger", trigger, "started_at", r.StartedAt.Format(time.RFC3339Nano), "outcome", r.Outcome)
	pipe.LPush(ctx, s.runsKey(account, id), r.ID)
	pipe.Del(ctx, s.progressKey(account, id))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("starting run of job %s: %w", id, err)
	}
	if err := s.trimRuns(ctx, account, id); err != nil {
		return nil, err
	}
	return r, nil
}

// trimRuns forgets the runs of a job beyond the newest runsKept. A trim
// that failed is done by the next run's start.
func (s *Store) trimRuns(ctx context.Context, account, id string) error {
	old, err := s.rdb.LRange(ctx, s.runsKey(account, id), runsKept, -1).Result()
	if err != nil {
		return fmt.Errorf("trimming runs of job %s: %w", id, err)
	}
	if len(old) == 0 {
		return nil
	}
	pipe := s.rdb.TxPipeline()
	for _, r := range old {
		pipe.Del(ctx, s.runKey(account, id, r))
	}
	pipe.LTrim(ctx, s.runsKey(account, id), 0, runsKept-1)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("trimming runs of job %s: %w", id, err)
	}
	return nil
}

// Count adds to a run's counters; safe from many workers at once.
func (s *Store) Count(ctx context.Context, account, id, runID string, counters map[string]int64) error {
	if len(counters) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for k, v := range counters {
		if v != 0 {
			pipe.HIncrBy(ctx, s.runKey(account, id, runID), "c:"+k, v)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("counting run %s: %w", runID, err)
	}
	return nil
}

// CountOnce adds to a run's counters once per key: another call with the
// same key (a retried or taken-over import of the same file) adds nothing.
// It reports whether it counted.
func (s *Store) CountOnce(ctx context.Context, account, id, runID, key string, counters map[string]int64) (bool, error) {
	args := make([]any, 0, 1+2*len(counters))
	args = append(args, "once:"+key)
	for k, v := range counters {
		if v != 0 {
			args = append(args, "c:"+k, v)
		}
	}
	n, err := countOnceScript.Run(ctx, s.rdb, []string{s.runKey(account, id, runID)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("counting run %s: %w", runID, err)
	}
	return n == 1, nil
}

// countOnceScript adds counters to a run hash unless its key was counted.
//
// KEYS[1]: the run hash. ARGV[1]: the key's field ("once:" + key); then
// pairs of counter field and increment.
// Returns: 1 when counted, 0 when the key was counted before.
var countOnceScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], 1) == 0 then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
`)

// FinishRun records a run's end. A run finishes once: later calls are ignored.
// The end time and the outcome are written together, so that no reader sees
// a run that has ended but is still "running". With an event sink
// (SetEvents), the end is then reported (run_completed or run_failed) for
// a job that asks for it; when that fails, the error is returned and a
// later call (the caller's retry) reports it again.
func (s *Store) FinishRun(ctx context.Context, account, id, runID, outcome, errMsg string) error {
	key := s.runKey(account, id, runID)
	ended := s.now().UTC().Format(time.RFC3339Nano)
	n, err := finishScript.Run(ctx, s.rdb, []string{key}, ended, outcome, errMsg).Int()
	if err != nil {
		return fmt.Errorf("finishing run %s: %w", runID, err)
	}
	if n == 0 || s.events == nil {
		return nil
	}
	if err := s.runEvent(ctx, account, id, runID); err != nil {
		return fmt.Errorf("run %s finished; reporting its end: %w", runID, err)
	}
	if err := s.rdb.HSet(ctx, key, "reported", 1).Err(); err != nil {
		return fmt.Errorf("run %s finished and reported; recording that: %w", runID, err)
	}
	return nil
}

// finishScript sets a run's end time, outcome and error unless it has an
// end time already.
// Returns: 1 when it finished the run, 2 when the run had finished but its
// end was not reported yet, 0 otherwise.
var finishScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'ended_at', ARGV[1]) == 0 then
  if redis.call('HEXISTS', KEYS[1], 'reported') == 0 then return 2 end
  return 0
end
redis.call('HSET', KEYS[1], 'outcome', ARGV[2], 'error', ARGV[3])
return 1
`)

// GetRun returns one run.
func (s *Store) GetRun(ctx context.Context, account, id, runID string) (*Run, error) {
	m, err := s.rdb.HGetAll(ctx, s.runKey(account, id, runID)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading run %s: %w", runID, err)
	}
	if len(m) == 0 {
		return nil, ErrNotFound
	}
	return decodeRun(runID, m), nil
}

func decodeRun(runID string, m map[string]string) *Run {
	r := &Run{ID: runID, Trigger: m["trigger"], Outcome: m["outcome"], Error: m["error"], Counters: map[string]int64{}}
	r.StartedAt, _ = time.Parse(time.RFC3339Nano, m["started_at"])
	if e, err := time.Parse(time.RFC3339Nano, m["ended_at"]); err == nil {
		r.EndedAt = &e
	}
	for k, v := range m {
		if c, ok := strings.CutPrefix(k, "c:"); ok {
			r.Counters[c], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return r
}

// Runs returns a job's most recent runs, newest first.
func (s *Store) Runs(ctx context.Context, account, id string, limit int64) ([]Run, error) {
	ids, err := s.rdb.LRange(ctx, s.runsKey(account, id), 0, limit-1).Result()
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, r := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.runKey(account, id, r))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading runs: %w", err)
	}
	out := make([]Run, 0, len(ids))
	for i, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			out = append(out, *decodeRun(ids[i], m))
		}
	}
	return out, nil
}

// SetProgress records progress fields of the current run (numbers or text).
func (s *Store) SetProgress(ctx context.Context, account, id string, fields map[string]any) error {
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, fmt.Sprint(v))
	}
	if len(args) == 0 {
		return nil
	}
	if err := s.rdb.HSet(ctx, s.progressKey(account, id), args...).Err(); err != nil {
		return fmt.Errorf("recording progress of job %s: %w", id, err)
	}
	return nil
}

// AddProgress increments numeric progress fields.
func (s *Store) AddProgress(ctx context.Context, account, id string, fields map[string]int64) error {
	pipe := s.rdb.Pipeline()
	for k, v := range fields {
		pipe.HIncrBy(ctx, s.progressKey(account, id), k, v)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("recording progress of job %s: %w", id, err)
	}
	return nil
}

// Describe returns a job with its last run and progress, for the API.
func (s *Store) Describe(ctx context.Context, account, id string) (*Job, error) {
	j, err := s.Get(ctx, account, id)
	if err != nil {
		return nil, err
	}
	runs, err := s.Runs(ctx, account, id, 1)
	if err != nil {
		return nil, err
	}
	if len(runs) > 0 {
		j.LastRun = &runs[0]
	}
	if err := s.withHealth(ctx, []*Job{j}); err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.progressKey(account, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading progress: %w", err)
	}
	if len(m) > 0 {
		j.Progress = map[string]any{}
		for k, v := range m {
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				j.Progress[k] = n
			} else {
				j.Progress[k] = v
			}
		}
	}
	return j, nil
}

// Log appends an entry to a job's log (the newest 1,000 are kept).
func (s *Store) Log(ctx context.Context, account, id string, e Entry) error {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding log entry of job %s: %w", id, err)
	}
	err = s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.logKey(account, id), MaxLen: logKept, Approx: true, Values: []any{"e", b}}).Err()
	if err != nil {
		return fmt.Errorf("writing log of job %s: %w", id, err)
	}
	return nil
}

// Logs returns a job's newest log entries, newest first.
func (s *Store) Logs(ctx context.Context, account, id string, limit int64) ([]Entry, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, s.logKey(account, id), "+", "-", limit).Result()
	if err != nil {
		return nil, fmt.Errorf("reading log of job %s: %w", id, err)
	}
	out := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		var e Entry
		if v, ok := m.Values["e"].(string); ok && json.Unmarshal([]byte(v), &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// withLastRuns sets the newest run of each job, in two round trips
// whatever the number of jobs.
func (s *Store) withLastRuns(ctx context.Context, js []*Job) error {
	if len(js) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	newest := make([]*redis.StringCmd, len(js))
	for i, j := range js {
		newest[i] = pipe.LIndex(ctx, s.runsKey(j.Account, j.ID), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("listing the newest runs of jobs: %w", err)
	}
	pipe = s.rdb.Pipeline()
	runs := make([]*redis.MapStringStringCmd, len(js))
	for i, j := range js {
		if id := newest[i].Val(); id != "" {
			runs[i] = pipe.HGetAll(ctx, s.runKey(j.Account, j.ID, id))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reading the newest runs of jobs: %w", err)
	}
	for i, j := range js {
		if runs[i] == nil {
			continue
		}
		if m := runs[i].Val(); len(m) > 0 {
			j.LastRun = decodeRun(newest[i].Val(), m)
		}
	}
	return nil
}
