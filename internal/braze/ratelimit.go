package braze

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateLimit is what Braze's X-RateLimit-* headers said. Braze sends the
// names in lower case; Go's header lookup is case-insensitive.
type RateLimit struct {
	// Present reports whether the answer carried the headers.
	Present   bool
	Limit     int
	Remaining int
	// Reset is when the window resets (X-RateLimit-Reset, Unix seconds).
	Reset time.Time
}

func parseRateLimit(h http.Header) RateLimit {
	var rl RateLimit
	if v, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit"))); err == nil {
		rl.Limit, rl.Present = v, true
	}
	if v, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining"))); err == nil {
		rl.Remaining, rl.Present = v, true
	}
	if v, err := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 64); err == nil && v > 0 && v < math.MaxInt32*4 {
		sec, frac := math.Modf(v)
		rl.Reset, rl.Present = time.Unix(int64(sec), int64(frac*1e9)), true
	}
	return rl
}
