package fault_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
)

// TestBackoffIsFullJitter checks every wait lies in [0, ceiling) for the
// attempt's ceiling (base doubled per attempt, capped), and that the waits
// spread over the whole range: the lower half is reached as often as the
// upper half, which half jitter never does.
func TestBackoffIsFullJitter(t *testing.T) {
	t.Parallel()
	base, ceiling := time.Second, 10*time.Minute
	for attempt := -1; attempt < 70; attempt++ {
		want := ceiling
		if attempt < 10 {
			want = base << max(attempt, 0)
		}
		low, distinct := 0, map[time.Duration]bool{}
		const n = 400
		for range n {
			d := fault.Backoff(attempt, base, ceiling)
			if d < 0 || d >= want {
				t.Fatalf("Backoff(%d) = %v, want in [0, %v)", attempt, d, want)
			}
			if d < want/2 {
				low++
			}
			distinct[d] = true
		}
		// Uniform: the lower half holds about n/2; 120 is over 8 standard
		// deviations below.
		if low < 120 {
			t.Fatalf("Backoff(%d): %d of %d waits under half the ceiling %v; want about half (full jitter)", attempt, low, n, want)
		}
		if len(distinct) < n/2 {
			t.Fatalf("Backoff(%d) has little jitter: %d distinct values of %d", attempt, len(distinct), n)
		}
	}
}

func TestBackoffWithoutRange(t *testing.T) {
	t.Parallel()
	if d := fault.Backoff(3, 0, time.Second); d != 0 {
		t.Fatalf("Backoff with no base = %v, want 0", d)
	}
	if d := fault.Backoff(3, time.Second, 0); d != 0 {
		t.Fatalf("Backoff with no ceiling = %v, want 0", d)
	}
}

func TestClasses(t *testing.T) {
	t.Parallel()
	inv := fmt.Errorf("creating job: %w", fault.Invalid("config.audiences", "is required"))
	var ve *fault.ValidationError
	if !errors.As(inv, &ve) || ve.Field != "config.audiences" || !errors.Is(inv, fault.ErrInvalid) || !fault.IsPermanent(inv) {
		t.Fatalf("validation error: %v", inv)
	}
	cause := errors.New("host key mismatch")
	perm := fmt.Errorf("run: %w", fault.Permanent("sftp_host_key_mismatch", cause))
	var pe *fault.PermanentError
	if !errors.As(perm, &pe) || pe.ProblemCode() != "sftp_host_key_mismatch" || !errors.Is(perm, cause) || !fault.IsPermanent(perm) {
		t.Fatalf("permanent error: %v", perm)
	}
	wait := fmt.Errorf("send: %w", fault.Wait(3*time.Second, "rate limit"))
	if w, ok := fault.AsWait(wait); !ok || w.Delay != 3*time.Second || fault.IsPermanent(wait) {
		t.Fatalf("wait error: %v", wait)
	}
	if fault.IsPermanent(errors.New("connection reset")) || errors.Is(errors.New("x"), fault.ErrInvalid) {
		t.Fatal("a plain error is transient")
	}
}
