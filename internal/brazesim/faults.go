package brazesim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are the failures the simulator injects into /users/track. Each
// rate is a probability in [0, 1] drawn per request, in this order: drop,
// timeout, 5xx, 429. The zero value injects nothing.
type Faults struct {
	// ServerErrorRate answers 500, 502, 503 or 504.
	ServerErrorRate float64 `json:"server_error_rate"`
	// RateLimitRate answers 429 as if the window were spent.
	RateLimitRate float64 `json:"rate_limit_rate"`
	// TimeoutRate holds the request open without answering until the client
	// gives up (or the Sim is closed).
	TimeoutRate float64 `json:"timeout_rate"`
	// DropRate closes the connection without an answer.
	DropRate float64 `json:"drop_rate"`
	// Latency is added before every /users/track answer.
	Latency time.Duration `json:"-"`
}

type faultsJSON struct {
	ServerErrorRate float64 `json:"server_error_rate"`
	RateLimitRate   float64 `json:"rate_limit_rate"`
	TimeoutRate     float64 `json:"timeout_rate"`
	DropRate        float64 `json:"drop_rate"`
	// Latency is a Go duration such as "50ms".
	Latency string `json:"latency,omitempty"`
}

// MarshalJSON writes Latency as a Go duration string ("50ms").
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{f.ServerErrorRate, f.RateLimitRate, f.TimeoutRate, f.DropRate, ""}
	if f.Latency > 0 {
		j.Latency = f.Latency.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads Faults with Latency as a Go duration string.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Faults{ServerErrorRate: j.ServerErrorRate, RateLimitRate: j.RateLimitRate, TimeoutRate: j.TimeoutRate, DropRate: j.DropRate}
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return fmt.Errorf("latency %q: %w", j.Latency, err)
		}
		out.Latency = d
	}
	*f = out
	return nil
}

// Validate reports a rate outside [0, 1] or a negative latency.
func (f Faults) Validate() error {
	for name, r := range map[string]float64{
		"server_error_rate": f.ServerErrorRate, "rate_limit_rate": f.RateLimitRate,
		"timeout_rate": f.TimeoutRate, "drop_rate": f.DropRate,
	} {
		if !(r >= 0 && r <= 1) {
			return fmt.Errorf("fault %s must be in [0, 1], got %v", name, r)
		}
	}
	if f.Latency < 0 {
		return fmt.Errorf("fault latency must not be negative, got %s", f.Latency)
	}
	return nil
}

func (f Faults) any() bool {
	return f.ServerErrorRate > 0 || f.RateLimitRate > 0 || f.TimeoutRate > 0 || f.DropRate > 0 || f.Latency > 0
}

// fault is what to do to one request.
type fault int

const (
	faultNone fault = iota
	faultDrop
	faultTimeout
	faultServerError
	faultRateLimit
)

type faultInjector struct {
	cur atomic.Pointer[Faults]

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

func newFaultInjector(seed uint64, f Faults) *faultInjector {
	// A seeded PRNG on purpose: fault injection must be reproducible.
	fi := &faultInjector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} //nolint:gosec // reproducible, not secret
	fi.cur.Store(&f)
	return fi
}

var serverErrors = [...]int{500, 502, 503, 504}

// draw decides the fault of one request and, for a 5xx, its status.
func (fi *faultInjector) draw() (f Faults, kind fault, status int) {
	f = *fi.cur.Load()
	if !f.any() {
		return f, faultNone, 0
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	switch {
	case f.DropRate > 0 && fi.rng.Float64() < f.DropRate:
		return f, faultDrop, 0
	case f.TimeoutRate > 0 && fi.rng.Float64() < f.TimeoutRate:
		return f, faultTimeout, 0
	case f.ServerErrorRate > 0 && fi.rng.Float64() < f.ServerErrorRate:
		return f, faultServerError, serverErrors[fi.rng.IntN(len(serverErrors))]
	case f.RateLimitRate > 0 && fi.rng.Float64() < f.RateLimitRate:
		return f, faultRateLimit, 0
	}
	return f, faultNone, 0
}

// SetFaults replaces the injected faults. It returns an error, and changes
// nothing, when f is invalid.
func (s *Sim) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.cur.Store(&f)
	return nil
}

// Faults returns the faults currently injected.
func (s *Sim) Faults() Faults { return *s.faults.cur.Load() }
