package workers

import (
	"context"
	"errors"

	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
)

// Imports is the Runner of csv_import jobs.
type Imports struct {
	Runner *importjob.Runner
}

// RunJob imports the job's new files; errors are classified once: a busy
// server or job is a wait, a permanent problem (host key, folder, key) fails
// the job, anything else is retried with backoff.
func (x *Imports) RunJob(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
	res, err := x.Runner.Run(ctx, j, r)
	var busy *importjob.BusyError
	var perm *importjob.PermanentError
	switch {
	case errors.As(err, &busy):
		return "", Wait(busy.Delay, busy.Reason)
	case errors.As(err, &perm):
		return "", Permanent(err)
	case err != nil:
		return "", err
	}
	if res.Failed > 0 {
		return jobs.OutcomePartial, nil
	}
	return jobs.OutcomeSuccess, nil
}
