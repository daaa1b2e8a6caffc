package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/tasks"
)

// Body is the JSON body of a delivery.
type Body struct {
	// ID names the event: a receiver that sees it twice (a retried
	// delivery whose answer was lost) drops the second.
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Job       BodyJob   `json:"job"`
	// Run is the run that ended (run events), or the run behind a health
	// change when there is one.
	Run *jobs.Run `json:"run,omitempty"`
	// Counters are the run's counters.
	Counters map[string]int64 `json:"counters,omitempty"`
	// Error is why a run failed, or the problem behind a health that is
	// not ok.
	Error *BodyError `json:"error,omitempty"`
	// Health and PreviousHealth are set for health_changed.
	Health         string `json:"health,omitempty"`
	PreviousHealth string `json:"previous_health,omitempty"`
}

// BodyJob is the job in a delivery: what names it, never its config or
// notify settings.
type BodyJob struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	Type    string `json:"type"`
	Label   string `json:"label"`
	State   string `json:"state"`
}

// BodyError is an error in a delivery; Code is empty for a failed run
// whose error has none.
type BodyError struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// NewBody returns the body of an event.
func NewBody(e jobs.Event) Body {
	b := Body{ID: e.ID, Type: e.Type, CreatedAt: e.At.UTC(), Health: e.Health, PreviousHealth: e.PreviousHealth}
	if j := e.Job; j != nil {
		b.Job = BodyJob{ID: j.ID, Account: j.Account, Type: j.Type, Label: j.Label, State: j.State}
	}
	if r := e.Run; r != nil {
		b.Run = r
		b.Counters = r.Counters
		if e.Type == jobs.EventRunFailed && r.Error != "" {
			b.Error = &BodyError{Message: r.Error}
		}
	}
	if e.LastError != nil {
		b.Error = &BodyError{Code: e.LastError.Code, Message: e.LastError.Message}
	}
	return b
}

// Sink is the job store's event sink (jobs.Store.SetEvents): it enqueues
// one delivery task per event.
type Sink struct {
	Enqueuer tasks.Enqueuer
}

// JobEvent implements jobs.EventSink.
func (s Sink) JobEvent(ctx context.Context, e jobs.Event) error {
	body, err := json.Marshal(NewBody(e))
	if err != nil {
		return fmt.Errorf("encoding the %s event of job %s: %w", e.Type, e.Job.ID, err)
	}
	return tasks.EnqueueNotifyDeliver(ctx, s.Enqueuer, tasks.NotifyDeliver{
		Account: e.Job.Account, JobID: e.Job.ID, EventID: e.ID, Event: e.Type, Body: body, CreatedAt: e.At.UTC(),
	})
}
