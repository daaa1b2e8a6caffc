package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule checks a schedule: a five-field cron expression ("*/5 * * * *"),
// a descriptor ("@hourly") or an interval ("@every 5m", at least 10s).
func ParseSchedule(s string) (cron.Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	sched, err := cronParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression, a descriptor such as @hourly or an interval such as @every 5m: %v", s, err)
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay < 10*time.Second {
		return nil, fmt.Errorf("%q is too frequent: at least @every 10s", s)
	}
	return sched, nil
}

// NextDue returns the first occurrence of schedule s strictly after t.
// Intervals are aligned to the Unix epoch, so that every scheduler process
// computes the same occurrences.
func NextDue(s string, t time.Time) (time.Time, bool) {
	sched, err := ParseSchedule(s)
	if err != nil || sched == nil {
		return time.Time{}, false
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		d := every.Delay
		return t.Truncate(d).Add(d), true
	}
	return sched.Next(t), true
}

func scheduleMember(account, id string) string { return account + "/" + id }

// SplitScheduleMember splits a member of the schedule index.
func SplitScheduleMember(m string) (account, id string, ok bool) {
	return strings.Cut(m, "/")
}

func (s *Store) reschedule(ctx context.Context, pipe redis.Pipeliner, j *Job) {
	member := scheduleMember(j.Account, j.ID)
	if j.State != StateRunning || j.Schedule == "" {
		pipe.ZRem(ctx, s.ns.Global("schedule"), member)
		return
	}
	next, ok := NextDue(j.Schedule, s.now())
	if !ok {
		pipe.ZRem(ctx, s.ns.Global("schedule"), member)
		return
	}
	pipe.ZAdd(ctx, s.ns.Global("schedule"), redis.Z{Score: float64(next.Unix()), Member: member})
}

// Due is one occurrence of a job's schedule.
type Due struct {
	Account string
	JobID   string
	// Type is the job's type (its runs' queue).
	Type string
	At   time.Time
}

// claimScript moves a job's next due time forward only if it is still the
// one the caller saw, so that of several schedulers exactly one claims an
// occurrence.
//
// KEYS[1]: the schedule index (global ZSET). ARGV[1]: member, ARGV[2]: the
// due score seen, ARGV[3]: the next score. Returns 1 when claimed, else 0.
var claimScript = redis.NewScript(`
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if cur and tonumber(cur) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0`)

// ClaimDue returns the occurrences due at now, each claimed by this caller
// alone, and moves each job's next due time to its following occurrence.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int64) ([]Due, error) {
	key := s.ns.Global("schedule")
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.Unix(), 10), Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading schedule: %w", err)
	}
	var out []Due
	for _, z := range zs {
		member := z.Member.(string)
		acct, id, _ := SplitScheduleMember(member)
		j, err := s.Get(ctx, acct, id)
		if errors.Is(err, ErrNotFound) {
			if err := s.rdb.ZRem(ctx, key, member).Err(); err != nil {
				return out, fmt.Errorf("unscheduling %s: %w", member, err)
			}
			continue
		}
		if err != nil {
			return out, err
		}
		dueAt := time.Unix(int64(z.Score), 0)
		next, ok := NextDue(j.Schedule, now)
		if !ok || j.State != StateRunning {
			if err := s.rdb.ZRem(ctx, key, member).Err(); err != nil {
				return out, fmt.Errorf("unscheduling %s: %w", member, err)
			}
			continue
		}
		claimed, err := claimScript.Run(ctx, s.rdb, []string{key}, member, int64(z.Score), next.Unix()).Int()
		if err != nil {
			return out, fmt.Errorf("claiming %s: %w", member, err)
		}
		if claimed == 1 {
			out = append(out, Due{Account: acct, JobID: id, Type: j.Type, At: dueAt})
		}
	}
	return out, nil
}
