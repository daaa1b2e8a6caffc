package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/ingest"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/redis/go-redis/v9"
)

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// refuse fails the commands it names.
type refuse map[string]bool

var errRefused = errors.New("injected failure")

func (r refuse) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r refuse) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		if r[c.Name()] {
			c.SetErr(errRefused)
			return errRefused
		}
		return next(ctx, c)
	}
}
func (r refuse) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestProcessorLogsAnAccountItCouldNotReactivate: when the processor
// cannot check the queue of an account it deactivates, nor put the
// account back, it says so with the account (the failure was ignored,
// and queued requests could wait unseen).
func TestProcessorLogsAnAccountItCouldNotReactivate(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noProcessor: true})
	prdb := redis.NewClient(b.rdb.Options())
	t.Cleanup(func() { prdb.Close() })
	prdb.AddHook(refuse{"xlen": true, "sadd": true})
	var logs lockedBuffer
	startProcessor(t, prdb, b.ns, b.store, ingest.ProcessorOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if a := post(t, b.collectURL("web"), "application/json", `{"email":"r@x.io"}`); a.status != 200 {
		t.Fatalf("post: %d", a.status)
	}
	b.waitProfile(t, "email", "r@x.io", nil)
	poll.Until(t, 10*time.Second, "the failed reactivation logged", func() bool {
		s := logs.String()
		return strings.Contains(s, "reactivating an ingest account failed") && strings.Contains(s, b.acct)
	})
}
