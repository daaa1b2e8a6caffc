package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/client"
)

// notification is one request a notify receiver got.
type notification struct {
	header http.Header
	body   []byte
	event  J
}

// notifyReceiver is a receiver of job notifications in the test process
// (plain http on 127.0.0.1, which the environments allow). It answers
// 500 to the first attempt of the events failFirst names.
type notifyReceiver struct {
	URL       string
	mu        sync.Mutex
	got       []notification
	attempts  map[string]int
	failFirst map[string]bool
}

func newNotifyReceiver(t *testing.T) *notifyReceiver {
	t.Helper()
	r := &notifyReceiver{attempts: map[string]int{}, failFirst: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		id, _ := ev["id"].(string)
		r.attempts[id]++
		job, _ := ev["job"].(map[string]any)
		if r.failFirst[job["id"].(string)+"/"+ev["type"].(string)] && r.attempts[id] == 1 {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		r.got = append(r.got, notification{header: req.Header.Clone(), body: b, event: J(ev)})
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/brazesync"
	return r
}

// wait returns the first notification of type typ about job.
func (r *notifyReceiver) wait(t *testing.T, job, typ string) notification {
	t.Helper()
	var n notification
	eventually(t, 90*time.Second, typ+" of job "+job+" to be delivered", func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		var seen []string
		for _, g := range r.got {
			if g.event.Str("job.id") == job && g.event.Str("type") == typ {
				n = g
				return true, ""
			}
			seen = append(seen, g.event.Str("job.id")+"/"+g.event.Str("type"))
		}
		return false, strings.Join(seen, ", ")
	})
	return n
}

// checkSignature verifies a notification as a receiver does: the HMAC of
// timestamp.body under the secret, a recent timestamp, and no credential.
func checkSignature(t *testing.T, n notification, secret string) {
	t.Helper()
	ts := n.header.Get("X-Brazesync-Timestamp")
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(n.body)))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := n.header.Get("X-Brazesync-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("%s: signature %q, want %q", n.event.Str("type"), got, want)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		t.Errorf("%s: timestamp %q is not a recent Unix time", n.event.Str("type"), ts)
	}
	if a := n.header.Get("Authorization"); a != "" {
		t.Errorf("%s: the receiver got an Authorization header", n.event.Str("type"))
	}
	if strings.Contains(string(n.body), secret) || strings.Contains(string(n.body), `"v1.`) {
		t.Errorf("%s: the body carries a secret: %s", n.event.Str("type"), n.body)
	}
}

// TestJobNotifications: a job's notify settings get run_completed for an
// export run and an import run, run_failed and health_changed, POSTed to a
// receiver and signed with the secret shown once; a delivery answered 500
// is retried and the job's log says so; a forbidden destination is
// refused when the settings are saved.
func TestJobNotifications(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		ctx := context.Background()
		a := e.NewAccount(t)
		rcv := newNotifyReceiver(t)
		c := a.Client(t)

		// A literal internal address the egress policy refuses, and an
		// unknown event, are refused when the settings are saved.
		au := a.Call(t, "POST", "/authorizations", map[string]any{"type": "sftp_managed", "label": "uploads"}).Expect(t, 201).Str("id")
		bad := a.Call(t, "POST", "/jobs", map[string]any{"type": "csv_import", "label": "x", "authorization_id": au,
			"config": map[string]any{"pattern": "*.csv"}, "notify": map[string]any{"url": "https://10.1.2.3/hook", "events": []string{"run_failed"}}})
		if code := bad.ErrorCode(t); bad.Status != 422 || code != "destination_forbidden" {
			t.Fatalf("a private notify URL: %d %s", bad.Status, bad.Body)
		}
		bad = a.Call(t, "POST", "/jobs", map[string]any{"type": "csv_import", "label": "x", "authorization_id": au,
			"config": map[string]any{"pattern": "*.csv"}, "notify": map[string]any{"url": rcv.URL, "events": []string{"run_started"}}})
		if code := bad.ErrorCode(t); bad.Status != 422 || code != "invalid" {
			t.Fatalf("an unknown event: %d %s", bad.Status, bad.Body)
		}

		// An export with one member: its first run sends it and ends; the
		// first attempt to deliver run_completed is answered 500.
		ext := "n" + randomHex(4)
		a.Collect(t, "braze_users", map[string]any{"external_id": ext}).Expect(t, 200)
		audienceSize(t, a, "lytics_all", 1)
		brazeAuth, _ := a.BrazeAuth(t)
		export := res(c.CreateJob(ctx, a.ID, client.JobInput{
			Type: client.JobExportAudience, Label: "export", AuthorizationID: brazeAuth,
			Config: client.JobConfig{Audiences: []string{"lytics_all"}, IdentifierField: "external_id", ExistingUsers: true, FlushUsers: 1},
			Notify: &client.NotifyInput{URL: rcv.URL, Events: []string{client.EventRunCompleted}},
		})).must(t)
		exportSecret := export.Notify.Secret
		if !strings.HasPrefix(exportSecret, "whsec_") {
			t.Fatalf("no secret shown at creation: %+v", export.Notify)
		}
		rcv.mu.Lock()
		rcv.failFirst[export.ID+"/run_completed"] = true
		rcv.mu.Unlock()
		shown := a.Job(t, export.ID)
		if strings.Contains(jsonString(shown), exportSecret) || shown.Str("notify.url") != rcv.URL {
			t.Fatalf("the job shows its secret again, or not its settings: %v", shown)
		}

		// An import whose first run finds nothing yet, and one whose
		// server's host key is not pinned: its run fails for good.
		imp := a.Call(t, "POST", "/jobs", map[string]any{"type": "csv_import", "label": "uploads", "authorization_id": au,
			"config": map[string]any{"pattern": "*.csv"}, "notify": map[string]any{"url": rcv.URL, "events": []string{"run_completed"}}}).Expect(t, 201)
		unpinned := a.Call(t, "POST", "/authorizations", map[string]any{"type": "sftp", "label": "unpinned",
			"config": map[string]any{"host": "127.0.0.1", "port": 2222, "username": "u"}, "secrets": map[string]any{"password": "p"}}).Expect(t, 201).Str("id")
		failing := a.Call(t, "POST", "/jobs", map[string]any{"type": "csv_import", "label": "broken", "authorization_id": unpinned,
			"config": map[string]any{"pattern": "*.csv"}, "notify": map[string]any{"url": rcv.URL, "events": []string{"run_failed", "health_changed"}}}).Expect(t, 201)

		n := rcv.wait(t, export.ID, "run_completed")
		checkSignature(t, n, exportSecret)
		if n.event.Str("job.type") != "braze_export_audience" || n.event.Str("run.outcome") != "success" || n.event.Num("counters.sent") != 1 {
			t.Errorf("export run_completed: %s", n.body)
		}
		found := false
		for _, v := range a.Call(t, "GET", "/jobs/"+export.ID+"/logs", nil).Expect(t, 200).Arr("data") {
			found = found || J(v.(map[string]any)).Str("code") == "notify_failed"
		}
		if !found {
			t.Errorf("the failed first delivery is not in the export's log")
		}

		n = rcv.wait(t, imp.Str("id"), "run_completed")
		checkSignature(t, n, imp.Str("notify.secret"))
		if n.event.Str("job.type") != "csv_import" || n.event.Str("run.id") == "" {
			t.Errorf("import run_completed: %s", n.body)
		}

		n = rcv.wait(t, failing.Str("id"), "run_failed")
		checkSignature(t, n, failing.Str("notify.secret"))
		if n.event.Str("run.outcome") != "failed" || !strings.Contains(n.event.Str("error.message"), "host key") {
			t.Errorf("run_failed: %s", n.body)
		}
		n = rcv.wait(t, failing.Str("id"), "health_changed")
		checkSignature(t, n, failing.Str("notify.secret"))
		if n.event.Str("health") != "failing" || n.event.Str("previous_health") != "ok" || n.event.Str("error.code") != "import_config" {
			t.Errorf("health_changed: %s", n.body)
		}
	})
}
