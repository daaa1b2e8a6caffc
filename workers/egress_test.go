package workers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// capture is an HTTP listener that answers like Braze and records the
// Authorization header of every request.
type capture struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
}

func newCapture(t *testing.T) *capture {
	t.Helper()
	c := &capture{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		c.mu.Lock()
		c.auth = append(c.auth, r.Header.Get("Authorization"))
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"message":"success","attributes_processed":1}`)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *capture) headers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.auth...)
}

// TestBrazeKeyDoesNotFollowAChangedEndpoint: pointing a braze
// authorization at another endpoint without sending its key again is
// refused, and the stored key never reaches the new endpoint; with a new
// key, only the new key does.
func TestBrazeKeyDoesNotFollowAChangedEndpoint(t *testing.T) {
	t.Parallel()
	b := setupExport(t, brazesim.Options{})
	ctx := context.Background()
	legit, other := newCapture(t), newCapture(t)
	const oldKey, newKey = "stored-key-4d1f0a", "second-key-77b2c9"
	auth := b.brazeAuth(t, oldKey, map[string]any{"rest_endpoint": legit.srv.URL})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"})
	// Every change is sent at once (flush_users 1).
	b.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true, "flush_users": 1.0})
	poll.Until(t, 20*time.Second, "the first user sent to the authorization's endpoint", func() bool { return len(legit.headers()) >= 1 })

	_, err := b.auths.Update(ctx, b.acct, auth, authorizations.Input{Config: map[string]any{"rest_endpoint": other.srv.URL}})
	var ve *fault.ValidationError
	if !errors.As(err, &ve) || ve.Field != "secrets.api_key" {
		t.Fatalf("moving the endpoint without the key: %v", err)
	}
	b.upsert(t, map[string]any{"braze_id": "u2", "country": "FR"})
	poll.Until(t, 20*time.Second, "the second user sent to the unchanged endpoint", func() bool { return len(legit.headers()) >= 2 })
	if got := other.headers(); len(got) != 0 {
		t.Fatalf("the other endpoint got requests after a refused move: %q", got)
	}

	if _, err := b.auths.Update(ctx, b.acct, auth, authorizations.Input{Config: map[string]any{"rest_endpoint": other.srv.URL}, Secrets: map[string]string{"api_key": newKey}}); err != nil {
		t.Fatal(err)
	}
	b.upsert(t, map[string]any{"braze_id": "u3", "country": "FR"})
	poll.Until(t, 20*time.Second, "the third user sent to the new endpoint", func() bool { return len(other.headers()) >= 1 })
	for _, h := range other.headers() {
		if h != "Bearer "+newKey || strings.Contains(h, oldKey) {
			t.Fatalf("the new endpoint got Authorization %q", h)
		}
	}
	for _, h := range legit.headers() {
		if h != "Bearer "+oldKey {
			t.Fatalf("the old endpoint got Authorization %q", h)
		}
	}
}

// TestExportToAnInternalDestinationFailsOnce: an endpoint whose name
// resolves to loopback (stored while loopback was allowed) is refused when
// the worker dials it: the job fails with destination_forbidden in its
// log, no request is made and the task is not retried.
func TestExportToAnInternalDestinationFailsOnce(t *testing.T) {
	t.Parallel()
	b := setupStores(t, brazesim.Options{})
	ns := keyspace.DefaultNamespace
	// The workers' engine has the default policy.
	b.engine = export.New(b.rdb, ns, b.jobs, b.auths, b.prof, b.aud, changelog.New(b.rdb, ns, changelog.Options{}), ratelimit.New(b.rdb, ns),
		export.Options{AllowInsecure: true, AllowCustomEndpoints: true, Logger: testLogger(), MaxInlineWait: 500 * time.Millisecond})
	startExport(t, b, 100*time.Millisecond)
	ctx := context.Background()
	sim, _ := url.Parse(b.simURL)
	dest := "localhost:" + sim.Port()
	auth := b.brazeAuth(t, "k", map[string]any{"rest_endpoint": "http://" + dest})
	b.audience(t, "fr", `{"field":"country","op":"eq","value":"FR"}`)
	b.upsert(t, map[string]any{"braze_id": "u1", "country": "FR"}, map[string]any{"braze_id": "u2", "country": "FR"})
	j := b.startJob(t, auth, map[string]any{"audiences": list("fr"), "existing_users": true})
	poll.Until(t, 20*time.Second, "job failed", func() bool { jj, _ := b.jobs.Get(ctx, b.acct, j.ID); return jj.State == jobs.StateFailed })
	logs, err := b.jobs.Logs(ctx, b.acct, j.ID, 10)
	if err != nil || len(logs) == 0 || logs[0].Code != egress.Code || !strings.Contains(logs[0].Message, dest+" resolves to a loopback address") {
		t.Fatalf("log: %+v %v", logs, err)
	}
	insp := asynq.NewInspectorFromRedisClient(b.rdb)
	poll.Until(t, 20*time.Second, "the refused send archived", func() bool {
		q, err := insp.GetQueueInfo(tasks.QueueExport)
		return err == nil && q.Archived >= 1 && q.Active == 0
	})
	if q, err := insp.GetQueueInfo(tasks.QueueExport); err != nil || q.Retry != 0 {
		t.Fatalf("export queue: %+v %v; a refused destination must not be retried", q, err)
	}
	if n := b.sim.Stats().Requests; n != 0 {
		t.Fatalf("the refused endpoint got %d requests", n)
	}
}

// TestImportFromAnInternalDestinationFails: an SFTP host that resolves to
// loopback is refused at dial time: the job fails with
// destination_forbidden, and the connection test says the same.
func TestImportFromAnInternalDestinationFails(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	b := setupImportEgress(t, rdb, importjob.Egress{}) // the default policy
	ctx := context.Background()
	b.sshd.WriteFile(t, "users.csv", []byte(brazeCSV))
	authID := b.auth(t, "sftp", map[string]any{"host": "localhost", "host_key": b.sshd.HostKeyAuthorized}, nil)
	j := b.run(t, authID, map[string]any{"file": "users.csv"})
	poll.Until(t, 20*time.Second, "the job to fail", func() bool { jj, _ := b.jobs.Get(ctx, "acme", j.ID); return jj.State == jobs.StateFailed })
	logs, err := b.jobs.Logs(ctx, "acme", j.ID, 5)
	if err != nil || len(logs) == 0 || logs[0].Code != egress.Code || !strings.Contains(logs[0].Message, "resolves to a loopback address") {
		t.Fatalf("log: %+v %v", logs, err)
	}
	if runs := b.runs(t, j, 1); len(runs) != 1 || runs[0].Outcome != jobs.OutcomeFailed {
		t.Fatalf("runs: %+v; a refused destination is one failed run, not retries", runs)
	}
	_, err = b.tester.Test(ctx, "acme", authID, false)
	var te *importjob.TestError
	if !errors.As(err, &te) || te.Code() != egress.Code {
		t.Fatalf("test: %v", err)
	}
}
