package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/brazesync/brazesync/internal/fault"
)

// sink records events; fail makes the next call fail.
type sink struct {
	mu     sync.Mutex
	events []Event
	fail   error
}

func (k *sink) JobEvent(_ context.Context, e Event) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail; err != nil {
		k.fail = nil
		return err
	}
	k.events = append(k.events, e)
	return nil
}

func (k *sink) types() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, e := range k.events {
		s := e.Type
		if e.Type == EventHealthChanged {
			s += ":" + e.PreviousHealth + ">" + e.Health
		}
		out = append(out, s)
	}
	return out
}

func notifyInput(sealed string, events ...string) *Notify {
	return &Notify{URL: "https://hooks.example.com/x", Events: events, SealedSecret: sealed, Secret: "plain-" + sealed}
}

func TestNotifySettingsKeepTheSecretAndNeverStoreItPlain(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	id := NewJobID()
	j, err := s.Create(ctx, "acme", Input{ID: id, Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Notify: notifyInput("sealed-1", EventRunCompleted)})
	if err != nil || j.ID != id || j.Notify.Secret != "plain-sealed-1" {
		t.Fatalf("create: %+v %v", j, err)
	}
	raw, err := s.rdb.HGet(ctx, s.key("acme"), id).Result()
	if err != nil || strings.Contains(raw, "plain-") || !strings.Contains(raw, "sealed-1") {
		t.Fatalf("stored job %s (%v): want the sealed secret and no plain one", raw, err)
	}
	got, err := s.Get(ctx, "acme", id)
	if err != nil || got.Notify.SealedSecret != "sealed-1" || got.Notify.Secret != "" {
		t.Fatalf("get: %+v %v", got.Notify, err)
	}
	shown, _ := json.Marshal(got)
	if strings.Contains(string(shown), "sealed-1") || strings.Contains(string(shown), "secret") {
		t.Fatalf("the job as shown carries its secret: %s", shown)
	}
	// Changing the events keeps the secret, and shows none.
	j, err = s.Update(ctx, "acme", id, Input{Notify: notifyInput("sealed-2", EventRunFailed)})
	if err != nil || j.Notify.Secret != "" || j.Notify.SealedSecret != "sealed-1" || !j.Notify.Wants(EventRunFailed) {
		t.Fatalf("update: %+v %v", j.Notify, err)
	}
	// Rotating replaces it.
	n := notifyInput("sealed-3", EventRunFailed)
	n.RotateSecret = true
	if j, err = s.Update(ctx, "acme", id, Input{Notify: n}); err != nil || j.Notify.Secret != "plain-sealed-3" || j.Notify.SealedSecret != "sealed-3" {
		t.Fatalf("rotate: %+v %v", j.Notify, err)
	}
	// Another setting's change keeps notify; removing drops it.
	if j, err = s.Update(ctx, "acme", id, Input{Label: p("y")}); err != nil || j.Notify == nil || j.Notify.SealedSecret != "sealed-3" {
		t.Fatalf("label change: %+v %v", j.Notify, err)
	}
	if j, err = s.Update(ctx, "acme", id, Input{RemoveNotify: true}); err != nil || j.Notify != nil {
		t.Fatalf("remove: %+v %v", j.Notify, err)
	}
	if _, err := s.Create(ctx, "acme", Input{ID: id, Type: "demo", Label: p("x"), AuthorizationID: p("au_b")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second job with the same id: %v", err)
	}
}

func TestNotifyEventsAreChecked(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	for _, n := range []*Notify{notifyInput("s"), notifyInput("s", "run_started"), {Events: []string{EventRunFailed}, SealedSecret: "s"}} {
		_, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Notify: n})
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || !strings.HasPrefix(ve.Field, "notify.") {
			t.Errorf("%+v: want a notify validation error, got %v", n, err)
		}
	}
}

func TestRunAndHealthEventsReachTheSink(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	k := &sink{}
	s.SetEvents(k)
	ctx := context.Background()
	j, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Notify: notifyInput("s", Events...)})
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := s.Create(ctx, "acme", Input{Type: "demo", Label: p("q"), AuthorizationID: p("au_b")})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{j.ID, quiet.ID} {
		r, _ := s.StartRun(ctx, "acme", id, "", "manual")
		if err := s.Count(ctx, "acme", id, r.ID, map[string]int64{"sent": 3}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, "acme", id, r.ID, OutcomeSuccess, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, "acme", id, r.ID, OutcomeFailed, "again"); err != nil {
			t.Fatal(err)
		}
		if err := s.ReportProblem(ctx, "acme", id, Problem{Code: "braze_5xx", Message: "503", RunID: r.ID}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReportProblem(ctx, "acme", id, Problem{Code: "braze_5xx", Message: "503 again", RunID: r.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReportOK(ctx, "acme", id); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"run_completed", "health_changed:ok>retrying", "health_changed:retrying>ok"}
	if got := k.types(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v (one per change, none of the job without notify)", got, want)
	}
	e := k.events[0]
	if e.Job.ID != j.ID || e.Run == nil || e.Run.Counters["sent"] != 3 || e.Run.Outcome != OutcomeSuccess || e.ID == "" {
		t.Fatalf("run event: %+v run %+v", e, e.Run)
	}
	if h := k.events[1]; h.LastError == nil || h.LastError.Code != "braze_5xx" || h.Run == nil {
		t.Fatalf("health event: %+v", h)
	}
}

func TestARunEndThatCouldNotBeReportedIsReportedByTheRetry(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	k := &sink{}
	s.SetEvents(k)
	ctx := context.Background()
	j, _ := s.Create(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Notify: notifyInput("s", EventRunFailed)})
	r, _ := s.StartRun(ctx, "acme", j.ID, "", "manual")
	k.fail = errors.New("enqueue failed")
	if err := s.FinishRun(ctx, "acme", j.ID, r.ID, OutcomeFailed, "boom"); err == nil || !strings.Contains(err.Error(), "enqueue failed") {
		t.Fatalf("want the sink's error, got %v", err)
	}
	if err := s.FinishRun(ctx, "acme", j.ID, r.ID, OutcomeFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, "acme", j.ID, r.ID, OutcomeFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	if got := k.types(); len(got) != 1 || got[0] != EventRunFailed || k.events[0].Run.Error != "boom" {
		t.Fatalf("events %v, want one run_failed with its error", got)
	}
}
