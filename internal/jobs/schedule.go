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

// Schedule limits.
const (
	// MinInterval is the shortest @every interval. A five-field cron
	// expression cannot fire more often than once a minute either, and each
	// occurrence is a whole job run (an SFTP listing, an export batch, a run
	// record), so a shorter interval only piles runs on top of each other.
	MinInterval = time.Minute
	// Horizon is how far ahead a schedule must have an occurrence: a
	// schedule that fires less than once a year, or never (30 February), is
	// refused. It is also the longest @every interval (8784h).
	Horizon = 366 * 24 * time.Hour
)

// yearProbe starts a window of Horizon that holds no 29 February, so that a
// schedule passes the yearly check on every day of every year or on none:
// one that fires only on 29 February is refused all year round, not only in
// the years before a leap day.
var yearProbe = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// ParseSchedule checks a schedule: a five-field cron expression ("*/5 * * * *"),
// a descriptor ("@hourly") or an interval ("@every 5m"), evaluated in UTC.
// An interval is at least MinInterval and at most Horizon; a cron expression
// must fire at least once in every Horizon. Time zone prefixes (CRON_TZ=,
// TZ=) are refused: schedules run in UTC.
func ParseSchedule(s string) (cron.Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return nil, fmt.Errorf("%q names a time zone; time zones are not supported, schedules run in UTC (write the expression in UTC)", s)
	}
	sched, err := parse(s)
	if err != nil {
		return nil, err
	}
	switch sc := sched.(type) {
	case cron.ConstantDelaySchedule:
		if sc.Delay < MinInterval {
			return nil, fmt.Errorf("%q is too frequent: at least @every %v", s, MinInterval)
		}
		if sc.Delay > Horizon {
			return nil, fmt.Errorf("%q is too long: at most @every %v (366 days)", s, Horizon)
		}
	case *cron.SpecSchedule:
		if next := sc.Next(yearProbe); next.IsZero() || next.Sub(yearProbe) > Horizon {
			return nil, fmt.Errorf("%q never fires, or fires less than once a year (such as only on 29 February)", s)
		}
	}
	return sched, nil
}

// parse parses s with the cron library, without its panic on a time zone
// prefix that is not followed by an expression, and with UTC in place of
// the process's zone.
func parse(s string) (cron.Schedule, error) {
	if (strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=")) && !strings.Contains(s, " ") {
		return nil, fmt.Errorf("%q has a time zone but no expression", s)
	}
	sched, err := cronParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression, a descriptor such as @hourly or an interval such as @every 5m: %v", s, err)
	}
	if sc, ok := sched.(*cron.SpecSchedule); ok && sc.Location == time.Local {
		sc.Location = time.UTC
	}
	return sched, nil
}

// NextDue returns the first occurrence of schedule s strictly after t.
// Intervals are aligned to a fixed origin, so that every scheduler process
// computes the same occurrences. ok is false for no schedule, an invalid
// one, and one with no occurrence after t within Horizon: a zero, pre-epoch
// or past time is never returned. A schedule stored before ParseSchedule
// had its present limits keeps running: an interval shorter than
// MinInterval runs every MinInterval, a time zone prefix is honoured.
func NextDue(s string, t time.Time) (next time.Time, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	sched, err := parse(s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	if every, isEvery := sched.(cron.ConstantDelaySchedule); isEvery {
		d := max(every.Delay, MinInterval)
		next = t.Truncate(d).Add(d)
	} else {
		next = sched.Next(t).UTC()
	}
	if next.IsZero() || next.Unix() <= 0 || !next.After(t) || next.Sub(t) > Horizon {
		return time.Time{}, false
	}
	return next, true
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
// An entry whose job is gone, not running, without a valid schedule, or
// whose due time is zero or before the epoch (an index written before
// schedules were checked) is not run: it is removed, or moved to the job's
// next valid occurrence.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int64) ([]Due, error) {
	key := s.ns.Global("schedule")
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.Unix(), 10), Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading schedule: %w", err)
	}
	var out []Due
	for _, z := range zs {
		member, _ := z.Member.(string)
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
		if claimed == 1 && z.Score > 0 {
			out = append(out, Due{Account: acct, JobID: id, Type: j.Type, At: time.Unix(int64(z.Score), 0)})
		}
	}
	return out, nil
}
