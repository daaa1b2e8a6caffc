package csvimport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

func TestJobLockSerialisesImports(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	b.im.lockTTL = 300 * time.Millisecond // renewed every 100ms
	ctx := context.Background()
	data := csvRows(10)

	opened := make(chan struct{})
	proceed := make(chan struct{})
	slow := func(context.Context) (io.ReadCloser, error) {
		close(opened)
		<-proceed
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.im.ImportFile(ctx, b.job, version("a.csv", data), slow, b.cfg, b.sink)
		done <- err
	}()
	<-opened
	// Held past several TTLs: the renewed lock still keeps others out.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		_, err := b.im.ImportFile(ctx, b.job, version("b.csv", data), opener(data), b.cfg, b.sink)
		if !errors.Is(err, ErrJobBusy) {
			t.Fatalf("concurrent import of the same job: got %v, want ErrJobBusy", err)
		}
		time.Sleep(50 * time.Millisecond) // pacing the probes while time passes
	}
	// Another job is not blocked.
	other := Job{Account: b.job.Account, ID: "other"}
	if _, err := b.im.ImportFile(ctx, other, version("b.csv", data), opener(data), b.cfg, b.sink); err != nil {
		t.Fatalf("other job: %v", err)
	}
	close(proceed)
	if err := <-done; err != nil {
		t.Fatalf("first import: %v", err)
	}
	if _, err := b.im.ImportFile(ctx, b.job, version("b.csv", data), opener(data), b.cfg, b.sink); err != nil {
		t.Fatalf("after the first import finished: %v", err)
	}
}

func TestJobLockOfDeadProcessExpires(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	ctx := context.Background()
	// A process died holding the lock.
	if err := b.im.rdb.Set(ctx, jobLockKey(b.im.ns, b.job.Account, b.job.ID), "dead", 200*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	data := csvRows(3)
	if _, err := b.im.ImportFile(ctx, b.job, version("a.csv", data), opener(data), b.cfg, b.sink); !errors.Is(err, ErrJobBusy) {
		t.Fatalf("got %v, want ErrJobBusy", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.im.ImportFile(ctx, b.job, version("a.csv", data), opener(data), b.cfg, b.sink)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrJobBusy) || time.Now().After(deadline) {
			t.Fatalf("lock of a dead process never expired: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling for the expiry
	}
}
