package changelog_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// BenchmarkReadCommit1000 reads and commits the log in pages of 1,000
// entries, as an export consumer does.
func BenchmarkReadCommit1000(b *testing.B) {
	rdb, ns := redistest.Client(b)
	l := changelog.New(rdb, ns, changelog.Options{})
	ctx := context.Background()
	entries := make([]changelog.Entry, 1000)
	for i := range entries {
		entries[i] = changelog.Entry{Audience: "a", ProfileID: fmt.Sprint(i), Op: changelog.OpEnter}
	}
	if _, _, err := l.CreateConsumer(ctx, "acct", "c", changelog.StartNow); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		if err := l.Append(ctx, "acct", entries...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		got, err := l.Read(ctx, "acct", "c", 1000)
		if err != nil || len(got) != 1000 {
			b.Fatalf("read %d: %v", len(got), err)
		}
		if err := l.Commit(ctx, "acct", "c", got[len(got)-1].ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppendCommitTrim runs a whole cycle for 1,000 entries: append
// them in one MULTI, commit them, and trim them.
func BenchmarkAppendCommitTrim(b *testing.B) {
	rdb, ns := redistest.Client(b)
	l := changelog.New(rdb, ns, changelog.Options{})
	ctx := context.Background()
	entries := make([]changelog.Entry, 1000)
	for i := range entries {
		entries[i] = changelog.Entry{Audience: "a", ProfileID: fmt.Sprint(i), Op: changelog.OpExit}
	}
	if _, _, err := l.CreateConsumer(ctx, "acct", "c", changelog.StartNow); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := l.Append(ctx, "acct", entries...); err != nil {
			b.Fatal(err)
		}
		got, _ := l.Range(ctx, "acct", "", 1)
		last, _ := rdb.XRevRangeN(ctx, changelog.StreamKey(ns, "acct"), "+", "-", 1).Result()
		if len(got) == 0 || len(last) == 0 {
			b.Fatal("empty log")
		}
		if err := l.Commit(ctx, "acct", "c", last[0].ID); err != nil {
			b.Fatal(err)
		}
		if n, err := l.Trim(ctx, "acct"); err != nil || n != 1000 {
			b.Fatalf("trimmed %d: %v", n, err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "entries/s")
}
