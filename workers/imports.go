package workers

import (
	"context"

	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
)

// Imports is the Runner of csv_import jobs.
type Imports struct {
	Runner *importjob.Runner
	Jobs   *jobs.Store
}

// OwnsHealth marks Imports as a HealthOwner: a run that imports nothing
// new leaves a failed file reported.
func (x *Imports) OwnsHealth() {}

// RunJob imports the job's new files; errors are classified once: a busy
// server or job is a wait, a permanent problem (host key, folder, key) fails
// the job, anything else is retried with backoff. A refused file makes the
// job failing (import_file_failed) until a file imports; a run that
// connects and finds nothing new ends any other problem.
func (x *Imports) RunJob(ctx context.Context, j *jobs.Job, r *jobs.Run) (string, error) {
	res, err := x.Runner.Run(ctx, j, r)
	if err != nil {
		return "", err
	}
	switch {
	case res.Failed > 0:
		problem := jobs.Problem{Code: importjob.CodeFileFailed, Message: res.Failure, Permanent: true, RunID: r.ID,
			Counters: map[string]int64{"files_failed": int64(res.Failed), "files_imported": int64(res.Imported)}}
		if err := x.Jobs.ReportProblem(ctx, j.Account, j.ID, problem); err != nil {
			return "", err
		}
		return jobs.OutcomePartial, nil
	case res.Imported > 0:
		_, err = x.Jobs.ReportOK(ctx, j.Account, j.ID)
	default:
		_, err = x.Jobs.ReportOK(ctx, j.Account, j.ID, importjob.CodeFileFailed)
	}
	if err != nil {
		return "", err
	}
	return jobs.OutcomeSuccess, nil
}
