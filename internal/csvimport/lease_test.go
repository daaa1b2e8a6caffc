package csvimport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/poll"
)

func TestJobLeaseSerialisesImports(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	// Renewed every third of a second: a TTL much shorter makes a renewal
	// that a loaded machine delays by a few hundred milliseconds lose it.
	b.im.SetLeaseTTL(time.Second)
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
	// Held past several TTLs: the renewed lease still keeps others out.
	deadline := time.Now().Add(3 * time.Second)
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

// TestJobLeaseOfDeadHolderIsTakenOver: a holder that dies (stops renewing
// without releasing) loses the lease within its TTL; the next holder
// learns whom it takes over from and removes the staging file the dead
// holder left. A lease released in order leaves no such record.
func TestJobLeaseOfDeadHolderIsTakenOver(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	b.im.SetLeaseTTL(300 * time.Millisecond)
	ctx := context.Background()

	dead, err := b.im.Acquire(ctx, b.job, "run_dead")
	if err != nil {
		t.Fatal(err)
	}
	// The dead holder's staging file, and another job's.
	cfg := b.cfg
	cfg.tempTag = jobTempTag(b.job)
	left, err := os.CreateTemp(b.cfg.TempDir, cfg.tempPattern(".stage"))
	if err != nil {
		t.Fatal(err)
	}
	_ = left.Close()
	cfg.tempTag = jobTempTag(Job{Account: b.job.Account, ID: "other"})
	others, err := os.CreateTemp(b.cfg.TempDir, cfg.tempPattern(".stage"))
	if err != nil {
		t.Fatal(err)
	}
	_ = others.Close()
	// The process dies: renewal stops, nothing is released.
	close(dead.stop)
	<-dead.done

	if _, err := b.im.Acquire(ctx, b.job, "run_next"); !errors.Is(err, ErrJobBusy) {
		t.Fatalf("while the dead lease lives: %v, want ErrJobBusy", err)
	}
	live, last, err := b.im.LeaseState(ctx, b.job)
	if err != nil || live != dead.Token() || last == nil || last.Run != "run_dead" {
		t.Fatalf("lease state while held: %q %+v %v", live, last, err)
	}
	var next *Lease
	poll.Until(t, 5*time.Second, "the dead holder's lease to expire", func() bool {
		next, err = b.im.Acquire(ctx, b.job, "run_next")
		return err == nil
	})
	if p := next.Previous(); p == nil || p.Token != dead.Token() || p.Run != "run_dead" || p.PID != os.Getpid() {
		t.Fatalf("previous holder = %+v", p)
	}
	data := csvRows(5)
	if _, err := next.ImportFile(next.Context(), version("a.csv", data), opener(data), b.cfg, b.sink); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left.Name()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dead holder's staging file is still there: %v", err)
	}
	if _, err := os.Stat(others.Name()); err != nil {
		t.Fatalf("another job's staging file was removed: %v", err)
	}
	if e, _, _ := b.im.Ledger.Get(ctx, b.job, version("a.csv", data)); e.RunID != "run_next" {
		t.Fatalf("ledger entry run = %q", e.RunID)
	}
	next.Release()
	if live, last, err := b.im.LeaseState(ctx, b.job); live != "" || last != nil || err != nil {
		t.Fatalf("after an orderly release: %q %+v %v", live, last, err)
	}
	again, err := b.im.Acquire(ctx, b.job, "run_3")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	if again.Previous() != nil {
		t.Fatalf("a lease released in order is taken over from %+v", again.Previous())
	}
	if n, _ := filepath.Glob(filepath.Join(b.cfg.TempDir, "*.stage")); len(n) != 1 {
		t.Fatalf("staging files left: %v", n)
	}
}

// TestLostLeaseStopsTheImport: a holder whose lease was taken from it
// (its renewal finds another token) stops: its Context ends with
// ErrLeaseLost and its import is not recorded as its own.
func TestLostLeaseStopsTheImport(t *testing.T) {
	t.Parallel()
	b := setupImporter(t)
	b.im.SetLeaseTTL(300 * time.Millisecond)
	ctx := context.Background()
	l, err := b.im.Acquire(ctx, b.job, "run_1")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := b.im.rdb.Set(ctx, jobLockKey(b.im.ns, b.job.Account, b.job.ID), "someone-else", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the lease's context did not end")
	}
	if !errors.Is(context.Cause(l.Context()), ErrLeaseLost) {
		t.Fatalf("cause = %v", context.Cause(l.Context()))
	}
	data := csvRows(3)
	if _, err := l.ImportFile(l.Context(), version("a.csv", data), opener(data), b.cfg, b.sink); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("import under a lost lease: %v", err)
	}
	if _, found, _ := b.im.Ledger.Get(ctx, b.job, version("a.csv", data)); found {
		t.Fatal("an import under a lost lease wrote the ledger")
	}
}
