package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/redis/go-redis/v9"
)

// TestParseScheduleLimits: schedules that never fire, fire less than once a
// year, fire more than once a minute, or name a time zone are refused.
func TestParseScheduleLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec string
		ok   bool
	}{
		{"0 0 31 2 *", false},
		{"0 0 30 2 *", false},
		{"0 0 30,31 2 *", false},
		{"0 0 31 4,6,9,11 *", false},
		{"0 0 29 2 *", false}, // once every four years
		{"0 0 31 2 1", true},  // day of month or day of week: Mondays in February
		{"0 0 28 2 *", true},
		{"0 0 31 12 *", true},
		{"0 0 1 1 *", true},
		{"@yearly", true},
		{"* * * * *", true},
		{"@every 0s", false},
		{"@every 1ms", false},
		{"@every 10s", false},
		{"@every 59s", false},
		{"@every -1m", false},
		{"@every 1m", true},
		{"@every 90s", true},
		{"@every 8784h", true},
		{"@every 8785h", false},
		{"@every 2562047h", false},
		{"CRON_TZ=America/New_York 0 9 * * *", false},
		{"TZ=Europe/Paris 0 9 * * *", false},
		{"TZ=UTC", false}, // the cron library panics on this one
		{"CRON_TZ=", false},
	}
	for _, c := range cases {
		_, err := ParseSchedule(c.spec)
		if (err == nil) != c.ok {
			t.Errorf("ParseSchedule(%q) = %v, want ok %v", c.spec, err, c.ok)
		}
	}
}

// TestNextDueIsUTCAndNeverZero: occurrences are computed in UTC whatever
// the zone of the clock, and a schedule without an occurrence gives none.
func TestNextDueIsUTCAndNeverZero(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	base := time.Date(2026, 3, 1, 10, 7, 30, 0, ny)
	if n, ok := NextDue("0 9 * * *", base); !ok || !n.Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("0 9 * * * after %v = %v %v, want 09:00 UTC the next day", base, n, ok)
	}
	for _, spec := range []string{"0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *", "TZ=UTC"} {
		if n, ok := NextDue(spec, base); ok || !n.IsZero() {
			t.Errorf("NextDue(%q) = %v %v, want no occurrence", spec, n, ok)
		}
	}
	// Schedules stored before the present limits keep running: a short
	// interval at the minimum, a time zone prefix in its zone.
	if n, ok := NextDue("@every 10s", base); !ok || !n.Equal(time.Date(2026, 3, 1, 15, 8, 0, 0, time.UTC)) {
		t.Fatalf("stored @every 10s: %v %v, want the next minute", n, ok)
	}
	if n, ok := NextDue("CRON_TZ=America/New_York 0 9 * * *", base); !ok || !n.Equal(time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)) {
		t.Fatalf("stored CRON_TZ schedule: %v %v", n, ok)
	}
	if n, ok := NextDue("@every 8784h", base); !ok || n.Sub(base) > Horizon || !n.After(base) {
		t.Fatalf("@every 8784h: %v %v", n, ok)
	}
}

// TestCreateRefusesScheduleThatNeverFires: the store refuses such a job on
// field schedule, and indexes nothing.
func TestCreateRefusesScheduleThatNeverFires(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	_, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Schedule: p("0 0 31 2 *")})
	var ve *fault.ValidationError
	if !errors.As(err, &ve) || ve.Field != "schedule" {
		t.Fatalf("Feb 31: %v", err)
	}
	if n, err := s.rdb.ZCard(ctx, s.ns.Global("schedule")).Result(); err != nil || n != 0 {
		t.Fatalf("schedule index holds %d entries (%v)", n, err)
	}
}

// TestClaimDueSkipsStaleEntries: an index entry left by an older version (a
// job whose schedule never fires, indexed at the zero time; or a valid job
// indexed before the epoch) is never run; the first is removed, the second
// moved to its next real occurrence.
func TestClaimDueSkipsStaleEntries(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	ctx := context.Background()
	key := s.ns.Global("schedule")
	plant := func(id, schedule string, score float64) {
		t.Helper()
		j := Job{ID: id, Account: "acme", Type: "demo", Label: "x", Schedule: schedule, State: StateRunning, Version: 1, Config: map[string]any{}}
		b, _ := json.Marshal(j)
		if err := s.rdb.HSet(ctx, s.key("acme"), id, b).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.rdb.ZAdd(ctx, key, redis.Z{Score: score, Member: scheduleMember("acme", id)}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	plant("job_feb31", "0 0 31 2 *", float64(time.Time{}.Unix()))
	plant("job_hourly", "0 * * * *", -1)
	for range 20 {
		c.set(c.now().Add(time.Second))
		due, err := s.ClaimDue(ctx, c.now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 0 {
			t.Fatalf("stale entries claimed: %+v", due)
		}
	}
	if _, err := s.rdb.ZScore(ctx, key, scheduleMember("acme", "job_feb31")).Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("Feb 31 entry still indexed: %v", err)
	}
	score, err := s.rdb.ZScore(ctx, key, scheduleMember("acme", "job_hourly")).Result()
	if err != nil || int64(score) != time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("hourly entry at %v (%v), want 11:00", time.Unix(int64(score), 0).UTC(), err)
	}
}
