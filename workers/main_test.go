package workers

import (
	"log/slog"
	"net/netip"
	"os"

	"github.com/brazesync/brazesync/internal/egress"
)

// loopbackAllowed is the egress policy of tests whose servers (Braze
// simulator, sshd) listen on loopback.
var loopbackAllowed = egress.New(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))

func testLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
