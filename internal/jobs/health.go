package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Health of a job: whether its deliveries (exports) or imports work.
const (
	// HealthOK: the last attempt worked, or none failed yet.
	HealthOK = "ok"
	// HealthRetrying: attempts fail with a transient error (network, 5xx)
	// and are retried.
	HealthRetrying = "retrying"
	// HealthFailing: a permanent error (a rejected key, a host key
	// mismatch, a bad file) or transient errors that outlasted the retries.
	HealthFailing = "failing"
)

// Defaults of the health policy (see SetHealthPolicy).
const (
	// FailingAfterDefault: transient errors that last this long without a
	// success make a retrying job failing.
	FailingAfterDefault = 10 * time.Minute
	// HealthLogEveryDefault: while a job is not ok, its log gets at most one
	// entry per this interval (and one at every change of health or code).
	HealthLogEveryDefault = time.Minute
)

// LastError is the problem behind a job's health.
type LastError struct {
	// Code is stable, e.g. braze_unreachable, braze_5xx, braze_401,
	// sftp_unreachable, sftp_host_key_mismatch, import_file_failed.
	Code string `json:"code"`
	// Message names the cause and what to check.
	Message string `json:"message"`
	// At is when it last happened.
	At time.Time `json:"at"`
}

// Problem is a failed attempt of a job to deliver or import.
type Problem struct {
	Code    string
	Message string
	// Permanent: no retry fixes it; the job is failing at once.
	Permanent bool
	// Exhausted: the attempt's retries are spent; the job is failing.
	Exhausted bool
	RunID     string
	// Counters are added to the counts of the problem since it began
	// (e.g. requests, retried, failed); the log entries show them.
	Counters map[string]int64
}

func (s *Store) healthKey(account, id string) string {
	return s.ns.Account(account, "job", id, "health")
}

// SetHealthPolicy changes how long transient errors last before a job is
// failing (FailingAfterDefault) and how often a job that is not ok logs
// (HealthLogEveryDefault). Zero keeps a value.
func (s *Store) SetHealthPolicy(failingAfter, logEvery time.Duration) {
	if failingAfter > 0 {
		s.failingAfter = failingAfter
	}
	if logEvery > 0 {
		s.logEvery = logEvery
	}
}

// health hash fields: health, code, message, at and since (RFC 3339),
// logged (Unix ms of the last log entry) and c:<counter>.
func decodeHealth(m map[string]string) (string, *LastError) {
	h := m["health"]
	if h == "" || h == HealthOK {
		return HealthOK, nil
	}
	at, _ := time.Parse(time.RFC3339Nano, m["at"])
	return h, &LastError{Code: m["code"], Message: m["message"], At: at}
}

func healthCounts(m map[string]string) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if c, ok := strings.CutPrefix(k, "c:"); ok {
			out[c], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out
}

// ReportProblem records a failed attempt: the job's health becomes
// retrying or failing with p's code and message. Its log gets an entry
// when the health or the code changes, and otherwise at most once per log
// interval, with the counts since the problem began: one entry per
// problem, not one per retry (nor one per sender meeting it at once).
func (s *Store) ReportProblem(ctx context.Context, account, id string, p Problem) error {
	key, logKey := s.healthKey(account, id), s.logKey(account, id)
	var from, to string // set when the health changed
	var problem *LastError
	err := s.watchRetry(ctx, id, func(tx *redis.Tx) error {
		from, to = "", ""
		m, err := tx.HGetAll(ctx, key).Result()
		if err != nil {
			return fmt.Errorf("reading health of job %s: %w", id, err)
		}
		now := s.now().UTC()
		cur, last := decodeHealth(m)
		since := now
		counts := map[string]int64{}
		if cur != HealthOK {
			if t, err := time.Parse(time.RFC3339Nano, m["since"]); err == nil {
				since = t
			}
			counts = healthCounts(m)
		}
		for k, v := range p.Counters {
			counts[k] += v
		}
		next := HealthRetrying
		if p.Permanent || p.Exhausted || now.Sub(since) >= s.failingAfter {
			next = HealthFailing
		}
		logged, _ := strconv.ParseInt(m["logged"], 10, 64)
		changed := next != cur || last == nil || last.Code != p.Code
		writeLog := changed || now.Sub(time.UnixMilli(logged)) >= s.logEvery
		fields := []any{"health", next, "code", p.Code, "message", p.Message, "at", now.Format(time.RFC3339Nano), "since", since.Format(time.RFC3339Nano)}
		for k, v := range counts {
			fields = append(fields, "c:"+k, v)
		}
		var entry []byte
		if writeLog {
			level := "warn"
			if next == HealthFailing {
				level = "error"
			}
			entry, _ = json.Marshal(Entry{Time: now, Level: level, Code: p.Code, Message: p.Message, RunID: p.RunID, Health: next, Since: &since, Counters: counts})
			fields = append(fields, "logged", now.UnixMilli())
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			if cur == HealthOK {
				pipe.Del(ctx, key)
			}
			pipe.HSet(ctx, key, fields...)
			if entry != nil {
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: logKey, MaxLen: logKept, Approx: true, Values: []any{"e", entry}})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("recording health of job %s: %w", id, err)
		}
		if next != cur {
			from, to = cur, next
			problem = &LastError{Code: p.Code, Message: p.Message, At: now}
		}
		return nil
	}, key)
	if err != nil || to == "" {
		return err
	}
	return s.healthEvent(ctx, account, id, p.RunID, from, to, problem)
}

// ReportOK records a successful attempt: a job that was not ok is ok again
// and its log says so, with the counts of the problem that ended. A
// problem whose code is in keep stays (e.g. a bad file stays reported
// until a file imports). It reports whether the health changed.
func (s *Store) ReportOK(ctx context.Context, account, id string, keep ...string) (bool, error) {
	key, logKey := s.healthKey(account, id), s.logKey(account, id)
	h, err := s.rdb.HGet(ctx, key, "health").Result()
	if errors.Is(err, redis.Nil) || (err == nil && h == HealthOK) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading health of job %s: %w", id, err)
	}
	changed, from := false, ""
	err = s.watchRetry(ctx, id, func(tx *redis.Tx) error {
		m, err := tx.HGetAll(ctx, key).Result()
		if err != nil {
			return fmt.Errorf("reading health of job %s: %w", id, err)
		}
		cur, last := decodeHealth(m)
		if cur == HealthOK || slices.Contains(keep, last.Code) {
			return nil
		}
		now := s.now().UTC()
		since, _ := time.Parse(time.RFC3339Nano, m["since"])
		entry, _ := json.Marshal(Entry{Time: now, Level: "info", Code: "recovered", Health: HealthOK, Since: &since, Counters: healthCounts(m),
			Message: fmt.Sprintf("working again after %s (%s since %s)", last.Code, cur, since.Format(time.RFC3339))})
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Del(ctx, key)
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: logKey, MaxLen: logKept, Approx: true, Values: []any{"e", entry}})
			return nil
		})
		if err != nil {
			return fmt.Errorf("recording health of job %s: %w", id, err)
		}
		changed, from = true, cur
		return nil
	}, key)
	if err != nil || !changed {
		return changed, err
	}
	return true, s.healthEvent(ctx, account, id, "", from, HealthOK, nil)
}

// Health returns a job's health and the problem behind it (nil when ok).
func (s *Store) Health(ctx context.Context, account, id string) (string, *LastError, error) {
	m, err := s.rdb.HGetAll(ctx, s.healthKey(account, id)).Result()
	if err != nil {
		return "", nil, fmt.Errorf("reading health of job %s: %w", id, err)
	}
	h, last := decodeHealth(m)
	return h, last, nil
}

// withHealth fills the health of jobs, in one round trip.
func (s *Store) withHealth(ctx context.Context, js []*Job) error {
	if len(js) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(js))
	for i, j := range js {
		cmds[i] = pipe.HGetAll(ctx, s.healthKey(j.Account, j.ID))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("reading health of jobs: %w", err)
	}
	for i, j := range js {
		j.Health, j.LastError = decodeHealth(cmds[i].Val())
	}
	return nil
}

// watchRetry runs f in an optimistic transaction on keys, again when
// another writer changed them meanwhile.
func (s *Store) watchRetry(ctx context.Context, id string, f func(tx *redis.Tx) error, keys ...string) error {
	for range 20 {
		err := s.rdb.Watch(ctx, f, keys...)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		return err
	}
	return fmt.Errorf("updating job %s: too much contention", id)
}
