package sftpd

import (
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// Benchmarks of the Lua scripts, one Redis round trip each.

func BenchmarkFailureScript(b *testing.B) {
	rdb, ns := redistest.Client(b)
	key := keys{ns}.failUser("bench-user")
	ctx := b.Context()
	for b.Loop() {
		if err := failureScript.Run(ctx, rdb, []string{key}, 60000, 1<<30, 60000).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLockStateScript(b *testing.B) {
	rdb, ns := redistest.Client(b)
	key := keys{ns}.failAddr("127.0.0.1")
	ctx := b.Context()
	for b.Loop() {
		if err := lockStateScript.Run(ctx, rdb, []string{key}).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClearUnlessLockedScript(b *testing.B) {
	rdb, ns := redistest.Client(b)
	key := keys{ns}.failUser("bench-user")
	ctx := b.Context()
	for b.Loop() {
		if err := clearUnlessLockedScript.Run(ctx, rdb, []string{key}).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
