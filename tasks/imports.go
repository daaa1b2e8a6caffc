package tasks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeImportWatch looks at an import in progress, to take it over when
// its worker died (the import job's lease expired with its holder).
const TypeImportWatch = "import:watch"

// ImportWatch is the payload of TypeImportWatch: the run whose import
// holds the job's lease under Token.
type ImportWatch struct {
	Account string `json:"account"`
	JobID   string `json:"job_id"`
	RunID   string `json:"run_id"`
	Token   string `json:"token"`
}

// NewImportWatch returns the task that looks at an import after a delay;
// its task id is unique to the holding of the lease, so that it is
// enqueued once.
func NewImportWatch(p ImportWatch, after time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w", TypeImportWatch, err)
	}
	return asynq.NewTask(TypeImportWatch, b, asynq.Queue(QueueImport), asynq.MaxRetry(25), asynq.Timeout(time.Minute),
		asynq.ProcessIn(after), asynq.TaskID(fmt.Sprintf("import-watch:%s:%s:%s:%s", p.Account, p.JobID, p.RunID, p.Token))), nil
}

// NewRecoveredRun returns the task that runs a job's run again after the
// worker importing it died (trigger "recover"); its task id is unique to
// the dead holding of the lease.
func NewRecoveredRun(p ImportWatch, queue string) (*asynq.Task, error) {
	b, err := json.Marshal(JobRun{Account: p.Account, JobID: p.JobID, Trigger: "recover", RunID: p.RunID})
	if err != nil {
		return nil, fmt.Errorf("encoding %s payload: %w", TypeJobRun, err)
	}
	return asynq.NewTask(TypeJobRun, b, asynq.Queue(queue), asynq.MaxRetry(10), asynq.Timeout(30*time.Minute),
		asynq.TaskID(fmt.Sprintf("run:%s:%s:%s:recover:%s", p.Account, p.JobID, p.RunID, p.Token))), nil
}
