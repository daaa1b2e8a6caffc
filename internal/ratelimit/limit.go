package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Defaults of Limit, from Braze's documented /users/track limit.
const (
	// RequestsDefault is Braze's /users/track ceiling per PerDefault.
	RequestsDefault = 3000
	// PerDefault is the length of Braze's rate-limit window.
	PerDefault = 3 * time.Second
	// HeadroomDefault is the fraction of the ceiling brazesync uses.
	HeadroomDefault = 0.9
	// BurstFractionDefault is the share of the budget that may be sent back
	// to back when the limiter is idle (see Limit.Burst).
	BurstFractionDefault = 0.05
)

// Limit is the request ceiling of one Braze workspace (authorization).
//
// Braze counts requests in fixed windows. The limiter is a GCRA (a leaky
// bucket) that lets Burst requests through at once and then one request every
// Per/(budget-Burst), where budget = floor(Requests*Headroom). In any window
// of length Per it therefore lets through at most Burst + (budget-Burst) =
// budget requests, whatever the phase of Braze's window.
type Limit struct {
	// Requests is the ceiling Braze enforces per Per. Default RequestsDefault.
	Requests int
	// Per is the window length. Default PerDefault.
	Per time.Duration
	// Headroom is the fraction of Requests brazesync allows itself, in
	// (0, 1]. Zero means HeadroomDefault.
	Headroom float64
	// Burst is how many requests an idle limiter lets through back to back.
	// Zero means BurstFractionDefault of the budget (at least 1).
	Burst int
}

// WithDefaults returns l with every zero field set to its default.
func (l Limit) WithDefaults() Limit {
	if l.Requests == 0 {
		l.Requests = RequestsDefault
	}
	if l.Per == 0 {
		l.Per = PerDefault
	}
	if l.Headroom == 0 {
		l.Headroom = HeadroomDefault
	}
	if l.Burst == 0 {
		l.Burst = max(1, int(float64(l.Budget())*BurstFractionDefault))
	}
	return l
}

// Budget is the number of requests per Per the limiter allows:
// floor(Requests*Headroom), at least 1.
func (l Limit) Budget() int {
	h := l.Headroom
	if h == 0 {
		h = HeadroomDefault
	}
	return max(1, int(math.Floor(float64(l.Requests)*h)))
}

// Validate reports the first invalid field of l (after WithDefaults).
func (l Limit) Validate() error {
	switch {
	case l.Requests < 1:
		return fmt.Errorf("rate limit requests must be at least 1, got %d", l.Requests)
	case l.Per <= 0:
		return fmt.Errorf("rate limit period must be positive, got %s", l.Per)
	case l.Headroom <= 0 || l.Headroom > 1 || math.IsNaN(l.Headroom):
		return fmt.Errorf("rate limit headroom must be in (0, 1], got %v", l.Headroom)
	case l.Burst < 1 || l.Burst > l.Budget():
		return fmt.Errorf("rate limit burst must be between 1 and the budget %d, got %d", l.Budget(), l.Burst)
	}
	return nil
}

// String formats l as ParseLimit reads it, e.g. "3000/3s".
func (l Limit) String() string {
	return strconv.Itoa(l.Requests) + "/" + l.Per.String()
}

// ParseLimit reads a limit written as "REQUESTS/DURATION", e.g. "3000/3s" or
// "50000/1m" (the form of an authorization's rate_limit setting). Headroom
// and Burst are left at their defaults.
func ParseLimit(s string) (Limit, error) {
	reqs, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Limit{}, fmt.Errorf("parsing rate limit %q: want REQUESTS/DURATION such as 3000/3s", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(reqs))
	if err != nil || n < 1 {
		return Limit{}, fmt.Errorf("parsing rate limit %q: requests must be a positive integer", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("parsing rate limit %q: period must be a positive duration such as 3s", s)
	}
	return Limit{Requests: n, Per: d}, nil
}
