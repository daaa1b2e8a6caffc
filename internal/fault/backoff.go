package fault

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before retry number attempt (0 for the first) of a
// transient failure: exponential from base, capped at ceiling, with full
// jitter (uniform in [0, min(ceiling, base·2^attempt))), so that workers
// that failed together do not retry together.
func Backoff(attempt int, base, ceiling time.Duration) time.Duration {
	if base <= 0 || ceiling <= 0 {
		return 0
	}
	limit := min(base, ceiling)
	for i := 0; i < attempt && limit < ceiling; i++ {
		limit = min(2*limit, ceiling)
	}
	return time.Duration(rand.Int64N(int64(limit))) //nolint:gosec // jitter needs no cryptographic randomness
}
