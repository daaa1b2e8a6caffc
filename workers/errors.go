package workers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// WaitError is returned by a handler that has to wait (a rate limit, a
// busy SFTP server): the task runs again after Delay. Waiting is not a
// failure: it is not counted as one and uses no retry budget.
type WaitError struct {
	Delay  time.Duration
	Reason string
}

func (e *WaitError) Error() string { return fmt.Sprintf("waiting %s: %s", e.Delay, e.Reason) }

// Wait returns a *WaitError.
func Wait(d time.Duration, reason string) error { return &WaitError{Delay: d, Reason: reason} }

// Permanent marks err as not worth retrying (asynq.SkipRetry).
func Permanent(err error) error { return fmt.Errorf("%w: %w", err, asynq.SkipRetry) }

// IsPermanent reports whether err must not be retried.
func IsPermanent(err error) bool { return errors.Is(err, asynq.SkipRetry) }

// IsFailure is Asynq's IsFailure: waits are not failures.
func IsFailure(err error) bool {
	var w *WaitError
	return !errors.As(err, &w)
}

// RetryDelay is Asynq's RetryDelayFunc: a wait comes back after its delay;
// anything else after an exponential backoff with full jitter (1s, 2s, 4s,
// ... capped at 10 minutes).
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var w *WaitError
	if errors.As(err, &w) {
		if w.Delay < 10*time.Millisecond {
			return 10 * time.Millisecond
		}
		return w.Delay
	}
	return Backoff(n)
}

// Backoff is the n-th retry delay: exponential with full jitter, capped.
func Backoff(n int) time.Duration {
	if n > 10 {
		n = 10
	}
	ceil := time.Second << n
	if ceil > 10*time.Minute {
		ceil = 10 * time.Minute
	}
	return ceil/2 + rand.N(ceil/2+1)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
