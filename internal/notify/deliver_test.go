package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/notify"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/brazesync/brazesync/workers"
	"github.com/hibiken/asynq"
)

// delivery is one request the receiver got.
type delivery struct {
	header http.Header
	body   []byte
	parsed notify.Body
}

// receiver is a real HTTP server that records deliveries; fail answers
// 500 to the first n attempts of each delivery.
type receiver struct {
	mu       sync.Mutex
	got      []delivery
	attempts map[string]int
	failN    int
	srv      *httptest.Server
}

func newReceiver(t *testing.T, failN int) *receiver {
	r := &receiver{attempts: map[string]int{}, failN: failN}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		id := req.Header.Get(notify.HeaderDelivery)
		r.attempts[id]++
		if r.attempts[id] <= r.failN {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		d := delivery{header: req.Header.Clone(), body: b}
		if err := json.Unmarshal(b, &d.parsed); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.got = append(r.got, d)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) find(typ, jobID string) *delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.got {
		if r.got[i].parsed.Type == typ && r.got[i].parsed.Job.ID == jobID {
			d := r.got[i]
			return &d
		}
	}
	return nil
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.attempts {
		n += a
	}
	return n
}

// world is a job store with a test job type ("demo": config.fail makes a
// run fail for good), a worker running its runs and the deliveries.
type world struct {
	js     *jobs.Store
	box    *secrets.Box
	client *asynq.Client
	types  *jobtype.Registry
}

func newWorld(t *testing.T, d notify.Deliverer) *world {
	t.Helper()
	rdb, _ := redistest.DB(t) // Asynq's keys are global: a database of its own
	ns := keyspace.Namespace("bs")
	box, err := secrets.NewBox(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	types, err := jobtype.NewRegistry(jobtype.Type{
		Name: "demo", Queue: tasks.QueueDefault,
		Run: jobtype.RunnerFunc(func(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
			if msg, ok := j.Config["fail"].(string); ok {
				return "", fault.Permanent("demo_broken", &demoError{msg})
			}
			return jobs.OutcomeSuccess, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	js := jobs.New(rdb, ns, nil, nil, types.JobTypes()...)
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { _ = client.Close() })
	js.SetEvents(notify.Sink{Enqueuer: client})
	d.Jobs, d.Box = js, box
	w := workers.NewServer(rdb, workers.Config{Concurrency: 2})
	w.HandleJobs(js, types, nil)
	w.Handle(tasks.TypeNotifyDeliver, notify.NewDeliverer(d))
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &world{js: js, box: box, client: client, types: types}
}

type demoError struct{ msg string }

func (e *demoError) Error() string { return e.msg }

// job creates a job notifying url of events and returns it with its
// plain secret.
func (w *world) job(t *testing.T, url string, config map[string]any, events ...string) (*jobs.Job, string) {
	t.Helper()
	ctx := context.Background()
	id := jobs.NewJobID()
	plain, sealed, err := notify.NewSecret(w.box, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	label := "notified"
	j, err := w.js.Create(ctx, "acme", jobs.Input{ID: id, Type: "demo", Label: &label, Config: config,
		Notify: &jobs.Notify{URL: url, Events: events, SealedSecret: sealed, Secret: plain}})
	if err != nil {
		t.Fatal(err)
	}
	return j, plain
}

func (w *world) run(t *testing.T, j *jobs.Job) {
	t.Helper()
	if err := tasks.EnqueueRun(context.Background(), w.client, tasks.JobRun{Account: j.Account, JobID: j.ID, Trigger: "manual"}, w.types.Queue(j.Type)); err != nil {
		t.Fatal(err)
	}
}

func (w *world) logged(j *jobs.Job, code string) func() bool {
	return func() bool {
		es, err := w.js.Logs(context.Background(), j.Account, j.ID, 100)
		if err != nil {
			return false
		}
		for _, e := range es {
			if e.Code == code {
				return true
			}
		}
		return false
	}
}

func (w *world) logMessage(t *testing.T, j *jobs.Job, code string) string {
	t.Helper()
	es, err := w.js.Logs(context.Background(), j.Account, j.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Code == code {
			return e.Message
		}
	}
	return ""
}

var loopback = egress.New(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))

func verify(t *testing.T, d *delivery, secret string) {
	t.Helper()
	err := notify.Verify(secret, d.header.Get(notify.HeaderTimestamp), d.body, d.header.Get(notify.HeaderSignature), time.Now(), 5*time.Minute)
	if err != nil {
		t.Fatalf("signature of %s: %v", d.parsed.Type, err)
	}
	if a := d.header.Get("Authorization"); a != "" {
		t.Fatalf("the receiver got an Authorization header %q", a)
	}
	if bytes.Contains(d.body, []byte("v1.")) || bytes.Contains(d.body, []byte(secret)) {
		t.Fatalf("the body carries a secret: %s", d.body)
	}
}

func TestRunAndHealthEventsAreDeliveredSigned(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 0)
	w := newWorld(t, notify.Deliverer{Egress: loopback})

	ok, okSecret := w.job(t, rcv.srv.URL+"/hook", nil, jobs.EventRunCompleted, jobs.EventRunFailed)
	w.run(t, ok)
	poll.Until(t, 15*time.Second, "run_completed to be delivered", func() bool { return rcv.find(jobs.EventRunCompleted, ok.ID) != nil })
	d := rcv.find(jobs.EventRunCompleted, ok.ID)
	verify(t, d, okSecret)
	if d.parsed.Run == nil || d.parsed.Run.Outcome != jobs.OutcomeSuccess || d.parsed.Job.Type != "demo" || d.parsed.Job.Label != "notified" || d.header.Get(notify.HeaderEvent) != jobs.EventRunCompleted {
		t.Fatalf("run_completed body: %s", d.body)
	}

	bad, badSecret := w.job(t, rcv.srv.URL+"/hook", map[string]any{"fail": "the source is gone"}, jobs.EventRunFailed, jobs.EventHealthChanged)
	w.run(t, bad)
	poll.Until(t, 15*time.Second, "run_failed and health_changed to be delivered", func() bool {
		return rcv.find(jobs.EventRunFailed, bad.ID) != nil && rcv.find(jobs.EventHealthChanged, bad.ID) != nil
	})
	f := rcv.find(jobs.EventRunFailed, bad.ID)
	verify(t, f, badSecret)
	if f.parsed.Error == nil || !strings.Contains(f.parsed.Error.Message, "the source is gone") || f.parsed.Run.Outcome != jobs.OutcomeFailed {
		t.Fatalf("run_failed body: %s", f.body)
	}
	h := rcv.find(jobs.EventHealthChanged, bad.ID)
	verify(t, h, badSecret)
	if h.parsed.Health != jobs.HealthFailing || h.parsed.PreviousHealth != jobs.HealthOK || h.parsed.Error == nil || h.parsed.Error.Code != "demo_broken" {
		t.Fatalf("health_changed body: %s", h.body)
	}
	if rcv.find(jobs.EventRunCompleted, bad.ID) != nil || rcv.find(jobs.EventHealthChanged, ok.ID) != nil {
		t.Fatal("an event the job did not ask for was delivered")
	}
}

func TestADeliveryAnswered500IsRetriedAndTheJobLogSaysSo(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 1)
	w := newWorld(t, notify.Deliverer{Egress: loopback})
	j, secret := w.job(t, rcv.srv.URL+"/hook?token=receiver-token", nil, jobs.EventRunCompleted)
	w.run(t, j)
	poll.Until(t, 20*time.Second, "the retried delivery to arrive", func() bool { return rcv.find(jobs.EventRunCompleted, j.ID) != nil })
	verify(t, rcv.find(jobs.EventRunCompleted, j.ID), secret)
	if !w.logged(j, notify.CodeFailed)() {
		t.Fatal("the failed attempt is not in the job's log")
	}
	msg := w.logMessage(t, j, notify.CodeFailed)
	if !strings.Contains(msg, "HTTP 500") || strings.Contains(msg, "receiver-token") {
		t.Fatalf("log entry %q: want the status, not the URL's token", msg)
	}
	if n := rcv.count(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}

func TestADeliveryFailingPastItsGiveUpTimeIsDroppedWithALogEntry(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 1000)
	w := newWorld(t, notify.Deliverer{Egress: loopback, GiveUpAfter: time.Nanosecond})
	j, _ := w.job(t, rcv.srv.URL+"/hook", nil, jobs.EventRunCompleted)
	w.run(t, j)
	poll.Until(t, 15*time.Second, "the delivery to be dropped", w.logged(j, notify.CodeDropped))
	if n := rcv.count(); n != 1 {
		t.Fatalf("%d attempts after the drop, want 1", n)
	}
}

func TestADestinationTheEgressPolicyRefusesIsNeverContacted(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 0)
	// The default policy: loopback is forbidden. The job is stored
	// directly (the API would refuse the literal address at once), as a
	// host name resolving there would be.
	w := newWorld(t, notify.Deliverer{})
	j, _ := w.job(t, strings.Replace(rcv.srv.URL, "127.0.0.1", "localhost", 1)+"/hook", nil, jobs.EventRunCompleted)
	w.run(t, j)
	poll.Until(t, 15*time.Second, "the refusal in the job's log", w.logged(j, egress.Code))
	if n := rcv.count(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}
