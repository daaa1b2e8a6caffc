package workers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/hibiken/asynq"
)

// Retry delays of failed tasks.
const (
	// RetryBase is the first retry's backoff ceiling, doubled per retry.
	RetryBase = time.Second
	// RetryCap caps the backoff ceiling.
	RetryCap = 10 * time.Minute
	// minWait is the shortest wait a task is put back for.
	minWait = 10 * time.Millisecond
)

// isPermanent reports whether err must not be retried: a fault.PermanentError
// or fault.ValidationError, or an error already marked asynq.SkipRetry.
func isPermanent(err error) bool { return errors.Is(err, asynq.SkipRetry) || fault.IsPermanent(err) }

// skipRetry marks a permanent error for Asynq (asynq.SkipRetry), once.
func skipRetry(err error) error {
	if err == nil || errors.Is(err, asynq.SkipRetry) || !fault.IsPermanent(err) {
		return err
	}
	return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
}

// IsFailure is Asynq's IsFailure: waits (fault.WaitError) are not failures.
func IsFailure(err error) bool {
	_, wait := fault.AsWait(err)
	return !wait
}

// RetryDelay is Asynq's RetryDelayFunc: a wait comes back after its delay;
// anything else after fault.Backoff (full jitter, from RetryBase, capped at
// RetryCap).
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	if w, ok := fault.AsWait(err); ok {
		return max(w.Delay, minWait)
	}
	return fault.Backoff(n, RetryBase, RetryCap)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
