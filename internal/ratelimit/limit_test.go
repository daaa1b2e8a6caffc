package ratelimit

import (
	"testing"
	"time"
)

func TestLimitDefaults(t *testing.T) {
	t.Parallel()
	l := Limit{}.WithDefaults()
	if l.Requests != 3000 || l.Per != 3*time.Second || l.Headroom != 0.9 {
		t.Fatalf("defaults = %+v", l)
	}
	if l.Budget() != 2700 || l.Burst != 135 {
		t.Fatalf("budget %d burst %d, want 2700 and 135", l.Budget(), l.Burst)
	}
	g := gcraLimit(l)
	// The GCRA never exceeds the budget in any window: burst + rate.
	if g.Burst+g.Rate != 2700 || g.Period != 3*time.Second {
		t.Fatalf("gcra = %+v, want burst+rate = 2700 per 3s", g)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLimitValidate(t *testing.T) {
	t.Parallel()
	for _, l := range []Limit{
		{Requests: -1, Per: time.Second, Headroom: 1, Burst: 1},
		{Requests: 10, Per: -time.Second, Headroom: 1, Burst: 1},
		{Requests: 10, Per: time.Second, Headroom: 1.1, Burst: 1},
		{Requests: 10, Per: time.Second, Headroom: 1, Burst: 11},
	} {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	l, err := ParseLimit(" 50000/1m ")
	if err != nil || l.Requests != 50000 || l.Per != time.Minute {
		t.Fatalf("ParseLimit = %+v, %v", l, err)
	}
	if l.String() != "50000/1m0s" {
		t.Fatalf("String = %q", l.String())
	}
	for _, bad := range []string{"", "3000", "x/3s", "0/3s", "3000/0s", "3000/soon"} {
		if _, err := ParseLimit(bad); err == nil {
			t.Errorf("ParseLimit(%q) accepted", bad)
		}
	}
}
