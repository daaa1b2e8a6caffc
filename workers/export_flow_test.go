package workers

import (
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/testutil/poll"
)

// TestExportBackfillFlowsWithoutSchedulerTicks backfills 4,000 members
// through a workspace limited to 20 requests a second (about 3 s of
// sending, longer than one backfill task's budget) while at most 300 users
// may wait at once, and with a scheduler whose pump runs only once, at
// start. The tasks alone must carry the backfill to its end: the walk goes
// on each time senders have taken half of what waits, and in a successor
// task when its budget runs out.
func TestExportBackfillFlowsWithoutSchedulerTicks(t *testing.T) {
	t.Parallel()
	b := setupStores(t, brazesim.Options{RateLimit: 20, RateWindow: time.Second})
	ns := keyspace.DefaultNamespace
	b.engine = export.New(b.rdb, ns, b.jobs, b.auths, b.prof, b.aud, changelog.New(b.rdb, ns, changelog.Options{}), ratelimit.New(b.rdb, ns),
		export.Options{AllowInsecure: true, AllowCustomEndpoints: true, Egress: loopbackAllowed, Logger: testLogger(),
			MaxInlineWait: 500 * time.Millisecond, HighWater: 300, BackfillChunk: 100})
	startExport(t, b, time.Hour)
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	const users = 4000
	b.members(t, users)
	auth := b.brazeAuth(t, "k", map[string]any{"rate_limit": 20, "rate_limit_window_seconds": 1})
	b.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true})
	poll.Until(t, 30*time.Second, "every member in Braze with no scheduler tick", func() bool {
		return b.sim.Stats().Users >= users
	})
}
