package importjob

import (
	"context"
	"path"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// TypeName is the API's type of Import CSV jobs.
const TypeName = "csv_import"

// JobType is the registration of Import CSV jobs, run by r: keep_updated
// without a schedule polls every 15 minutes, and an upload to the managed
// SFTP server runs the jobs that would pick the file.
func (r *Runner) JobType() jobtype.Type {
	return jobtype.Type{
		Name:               TypeName,
		Queue:              tasks.QueueImport,
		AuthorizationTypes: []string{"sftp", "sftp_pgp", "sftp_managed"},
		Validate:           validate,
		Run:                jobtype.RunnerFunc(r.runJob),
		OwnsHealth:         true,
		TakesUpload:        takesUpload,
		Admit:              r.admit,
		Tasks:              map[string]asynq.Handler{tasks.TypeImportWatch: asynq.HandlerFunc(r.processWatch)},
	}
}

// admit lets a run of job j be recorded and start once no other import of
// the job holds its lease (until then the task waits, with no run that
// would sit there empty). A run an upload asked for is dropped when
// another run has listed the folder since: it imported the upload.
func (r *Runner) admit(ctx context.Context, j *jobs.Job, trigger string) (bool, error) {
	if trigger == TriggerUpload {
		waiting, err := r.jobs.UploadsWaiting(ctx, j.Account, j.ID)
		if err != nil || !waiting {
			return false, err
		}
	}
	live, _, err := r.importer.LeaseState(ctx, csvimport.Job{Account: j.Account, ID: j.ID})
	if err != nil {
		return false, err
	}
	if live != "" {
		return false, &BusyError{Delay: r.WatchInterval(), Reason: "another import of this job is running"}
	}
	return true, nil
}

// TriggerUpload is the trigger of the runs that uploads ask for.
const TriggerUpload = "upload"

// validate checks a job's config; keep_updated without a schedule gets
// KeepUpdatedSchedule.
func validate(_ context.Context, j *jobs.Job) error {
	c, err := ParseConfig(j.Config)
	if err != nil {
		return err
	}
	if c.KeepUpdated && j.Schedule == "" {
		j.Schedule = KeepUpdatedSchedule
	}
	return nil
}

// runJob imports the job's new files. Errors go to the worker as they are:
// a busy server or job is a wait, a permanent problem (host key, folder,
// key) fails the job, anything else is retried with backoff. A refused
// file makes the job failing (import_file_failed) until a file imports; a
// run that connects and finds nothing new ends any other problem.
func (r *Runner) runJob(ctx context.Context, j *jobs.Job, run *jobs.Run) (string, error) {
	res, err := r.Run(ctx, j, run)
	if err != nil {
		return "", err
	}
	if res.Finished {
		return jobs.OutcomeRunning, nil // another worker took the run over and finished it
	}
	switch {
	case res.Failed > 0:
		problem := jobs.Problem{Code: CodeFileFailed, Message: res.Failure, Permanent: true, RunID: run.ID,
			Counters: map[string]int64{"files_failed": int64(res.Failed), "files_imported": int64(res.Imported)}}
		if err := r.jobs.ReportProblem(ctx, j.Account, j.ID, problem); err != nil {
			return "", err
		}
		return jobs.OutcomePartial, nil
	case res.Imported > 0:
		_, err = r.jobs.ReportOK(ctx, j.Account, j.ID)
	default:
		_, err = r.jobs.ReportOK(ctx, j.Account, j.ID, CodeFileFailed)
	}
	if err != nil {
		return "", err
	}
	return jobs.OutcomeSuccess, nil
}

// takesUpload reports whether the import job j would pick the uploaded file
// p (an SFTP path such as "/exports/users.csv"): p is in the job's folder
// (else the authorization's folder authFolder, else the root; relative
// folders start at the root, the managed session's working directory) and
// its name is selected. A config the job cannot parse takes every upload
// (the run then records the problem).
func takesUpload(j *jobs.Job, authFolder, p string) bool {
	c, err := ParseConfig(j.Config)
	if err != nil {
		return true
	}
	folder := c.Folder
	if folder == "" {
		folder = authFolder
	}
	folder = path.Clean("/" + folder)
	return path.Dir(path.Clean("/"+p)) == folder && c.Select.Match(path.Base(p))
}
