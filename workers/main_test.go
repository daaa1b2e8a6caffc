package workers

import (
	"log/slog"
	"net/netip"
	"os"
	"testing"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/tasks"
)

// loopbackAllowed is the egress policy of tests whose servers (Braze
// simulator, sshd) listen on loopback.
var loopbackAllowed = egress.New(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))

// registry registers types, failing the test on an error.
func registry(t testing.TB, types ...jobtype.Type) *jobtype.Registry {
	t.Helper()
	r, err := jobtype.NewRegistry(types...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runFunc is a job type on the default queue run by f.
func runFunc(name string, f jobtype.RunnerFunc) jobtype.Type {
	return jobtype.Type{Name: name, Queue: tasks.QueueDefault, Run: f}
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
