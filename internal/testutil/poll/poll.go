// Package poll waits, in tests, for a condition that no event announces.
package poll

import (
	"testing"
	"time"
)

// interval is how long Until sleeps between two checks.
const interval = 5 * time.Millisecond

// Until calls cond every few milliseconds until it returns true, and fails
// the test, naming what it waited for, when within passes first.
func Until(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waiting for %s: not done within %s", what, within)
		}
		time.Sleep(interval) // polling a condition with a deadline
	}
}
