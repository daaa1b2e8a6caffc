package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeNotifyDeliver POSTs one event of a job to its notify URL.
const TypeNotifyDeliver = "notify:deliver"

// NotifyMaxRetry bounds the retries of a delivery; the handler drops a
// delivery older than its give-up time (24 h) first, so this only caps a
// delivery whose every attempt fails fast.
const NotifyMaxRetry = 1000

// NotifyDeliver is the payload of TypeNotifyDeliver. It holds no secret:
// the URL and the signing secret are read from the job when it is sent.
type NotifyDeliver struct {
	Account string `json:"account"`
	JobID   string `json:"job_id"`
	// EventID names the event (the body's "id").
	EventID string `json:"event_id"`
	// Event is the event type, e.g. "run_completed".
	Event string `json:"event"`
	// Body is the JSON body POSTed, the same on every attempt.
	Body json.RawMessage `json:"body"`
	// CreatedAt is when the event happened; the delivery is dropped once
	// it is older than its give-up time.
	CreatedAt time.Time `json:"created_at"`
}

// NewNotifyDeliver returns the task delivering one event, in the default
// queue. Its task id is derived from the event, so that an event reported
// twice (a retried run end) is delivered once.
func NewNotifyDeliver(p NotifyDeliver) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w", TypeNotifyDeliver, err)
	}
	return asynq.NewTask(TypeNotifyDeliver, b, asynq.Queue(QueueDefault), asynq.MaxRetry(NotifyMaxRetry),
		asynq.Timeout(time.Minute), asynq.TaskID(fmt.Sprintf("notify:%s:%s", p.Account, p.EventID)),
		asynq.Retention(time.Hour)), nil
}

// EnqueueNotifyDeliver enqueues the delivery of one event; an event
// already enqueued is not an error.
func EnqueueNotifyDeliver(ctx context.Context, enq Enqueuer, p NotifyDeliver) error {
	t, err := NewNotifyDeliver(p)
	if err != nil {
		return err
	}
	return enqueueOnce(ctx, enq, t, "the %s notification of job %s/%s", p.Event, p.Account, p.JobID)
}
