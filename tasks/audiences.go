package tasks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Audience and maintenance task types.
const (
	// TypeAudienceReevaluate re-evaluates one chunk of profiles against a
	// rule audience and enqueues the next chunk.
	TypeAudienceReevaluate = "audience:reevaluate"
	// TypeMaintenanceHourly re-evaluates relative-time audiences and trims
	// change logs, for every account.
	TypeMaintenanceHourly = "maintenance:hourly"
)

// AudienceReevaluate is the payload of TypeAudienceReevaluate.
type AudienceReevaluate struct {
	Account string `json:"account"`
	Slug    string `json:"slug"`
	Cursor  string `json:"cursor,omitempty"`
}

// NewAudienceReevaluate returns the task for one chunk.
func NewAudienceReevaluate(p AudienceReevaluate) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w", TypeAudienceReevaluate, err)
	}
	return asynq.NewTask(TypeAudienceReevaluate, b, asynq.Queue(QueueMaintenance), asynq.MaxRetry(20), asynq.Timeout(5*time.Minute)), nil
}

// MaintenanceUnique is how long an enqueued maintenance task blocks its
// copies, so that of several schedulers registering it each occurrence
// runs once.
const MaintenanceUnique = time.Minute

// NewMaintenanceHourly returns the hourly maintenance task.
func NewMaintenanceHourly() *asynq.Task {
	return asynq.NewTask(TypeMaintenanceHourly, nil, asynq.Queue(QueueMaintenance), asynq.MaxRetry(3), asynq.Timeout(50*time.Minute),
		asynq.Unique(MaintenanceUnique))
}
