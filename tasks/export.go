package tasks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Export task types: the small, repeatable steps of an Export Audience job.
const (
	// TypeExportFeed moves a job's new change-log entries to its waiting set.
	TypeExportFeed = "export:feed"
	// TypeExportBackfill marks one chunk of current members as waiting.
	TypeExportBackfill = "export:backfill"
	// TypeExportSend sends waiting users to Braze for a bounded time.
	TypeExportSend = "export:send"
)

// ExportStep is the payload of every export task.
type ExportStep struct {
	Account string `json:"account"`
	JobID   string `json:"job_id"`
	// Slot numbers a job's concurrent senders.
	Slot int `json:"slot,omitempty"`
}

// ExportStepUnique is how long an enqueued export step blocks its copies
// (asynq.Unique): longer than a send task's budget, far shorter than
// Asynq's recovery of a dead worker's tasks, so that the work of a worker
// that died resumes within seconds. A copy that runs meanwhile is harmless:
// every step is safe to run twice and a sender holds its slot in Redis.
const ExportStepUnique = 20 * time.Second

// NewExportStep returns an export task. Each (type, job, slot) is unique
// for ExportStepUnique while it is queued or running, so the pump can ask
// for it every second without piling up copies.
func NewExportStep(taskType string, p ExportStep) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w", taskType, err)
	}
	return asynq.NewTask(taskType, b, asynq.Queue(QueueExport), asynq.Unique(ExportStepUnique), asynq.MaxRetry(25), asynq.Timeout(2*time.Minute)), nil
}
