// Package tasks is the contract between the API, the scheduler, the workers
// and the job types: every Asynq task type name, its payload, its
// constructor and its enqueue helper live here, and nothing else enqueues
// raw task names.
package tasks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Queues and their weights (Asynq weighted priority). Exports and imports
// get most of the workers; maintenance (re-evaluation, trimming) the rest.
const (
	QueueExport      = "export"
	QueueImport      = "import"
	QueueDefault     = "default"
	QueueMaintenance = "maintenance"
)

// QueueWeights is the worker's queue configuration.
var QueueWeights = map[string]int{
	QueueExport:      4,
	QueueImport:      3,
	QueueDefault:     2,
	QueueMaintenance: 1,
}

// Task type names.
const (
	// TypeJobRun starts one run of a job (any job type).
	TypeJobRun = "job:run"
)

// JobRun is the payload of TypeJobRun.
type JobRun struct {
	Account string `json:"account"`
	JobID   string `json:"job_id"`
	// Trigger says why: "create", "manual", "schedule", "upload", "resume".
	Trigger string `json:"trigger"`
	// DueAt is the scheduled occurrence, for scheduled runs.
	DueAt time.Time `json:"due_at,omitempty"`
	// RunID names the run when the enqueuer chose it (NewRequestedRun);
	// otherwise the worker derives it from the task id.
	RunID string `json:"run_id,omitempty"`
}

// RequestedRunTaskID is the task id of the run of a job asked for through
// the API (at creation, resume or run): one per job at a time, so that a
// run asked for while another is queued or running is refused rather than
// started twice.
func RequestedRunTaskID(account, jobID string) string {
	return fmt.Sprintf("run:%s:%s:requested", account, jobID)
}

// NewRequestedRun returns the task of a run asked for through the API: its
// task id is RequestedRunTaskID (enqueueing it while a copy is queued or
// running fails with asynq.ErrTaskIDConflict) and its payload names a new
// run (p.RunID must be set), so that the runs of one job stay apart.
func NewRequestedRun(p JobRun, queue string) (*asynq.Task, error) {
	if p.RunID == "" || !p.DueAt.IsZero() {
		return nil, fmt.Errorf("a requested run needs a run id and no due time")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w", TypeJobRun, err)
	}
	return asynq.NewTask(TypeJobRun, b, asynq.Queue(queue), asynq.MaxRetry(10), asynq.Timeout(30*time.Minute),
		asynq.TaskID(RequestedRunTaskID(p.Account, p.JobID))), nil
}

// NewJobRun returns the task that runs a job once. A scheduled occurrence
// gets a task id derived from the job and the due time, so that it is
// enqueued once however many schedulers see it.
func NewJobRun(p JobRun, queue string) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w", TypeJobRun, err)
	}
	opts := []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(10), asynq.Timeout(30 * time.Minute)}
	if !p.DueAt.IsZero() {
		opts = append(opts, asynq.TaskID(fmt.Sprintf("run:%s:%s:%d", p.Account, p.JobID, p.DueAt.Unix())), asynq.Retention(24*time.Hour))
	}
	return asynq.NewTask(TypeJobRun, b, opts...), nil
}

// Decode unmarshals a task payload into v; a bad payload is permanent.
func Decode(t *asynq.Task, v any) error {
	if err := json.Unmarshal(t.Payload(), v); err != nil {
		return fmt.Errorf("decoding %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}
