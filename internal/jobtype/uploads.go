package jobtype

import (
	"context"
	"errors"
	"log/slog"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/tasks"
)

// Authorizations is what the upload router reads of authorizations.
type Authorizations interface {
	Get(ctx context.Context, account, id string) (*authorizations.Authorization, error)
}

// Uploads starts the jobs that a file uploaded to the managed SFTP server
// concerns: the jobs of the uploading user's authorization whose type
// takes the upload (Type.TakesUpload).
type Uploads struct {
	Types    *Registry
	Jobs     *jobs.Store
	Auths    Authorizations
	Enqueuer tasks.Enqueuer
	Logger   *slog.Logger
}

// Uploaded asks for a run (trigger "upload") of every job of authorization
// authID in account acct that is running or completed (not paused, failed
// or deleted) and whose type takes the uploaded path, and returns how many
// it asked. Uploads coalesce: the first upload since the job last listed
// its folder enqueues a run at once; the uploads that follow, until that
// run lists the folder, join it (jobs.Store.MarkUploaded).
// Failures are logged: the upload itself has succeeded, and a scheduled
// run or a retry picks the file up.
func (u *Uploads) Uploaded(ctx context.Context, acct, authID, path string) int {
	log := u.Logger.With(slog.String("account", acct), slog.String("authorization", authID), slog.String("path", path))
	authFolder := ""
	au, err := u.Auths.Get(ctx, acct, authID)
	switch {
	case errors.Is(err, authorizations.ErrNotFound):
		return 0 // deleted meanwhile: no job may use it
	case err != nil:
		// The jobs' own folders still apply; the authorization's folder
		// is only their default.
		log.LogAttrs(ctx, slog.LevelWarn, "upload hook: reading the authorization", slog.String("error", err.Error()))
	default:
		authFolder, _ = authorizations.ConfigString(au.Config, "folder")
	}
	list, err := u.Jobs.List(ctx, acct, false)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "upload hook: listing jobs", slog.String("error", err.Error()))
		return 0
	}
	started := 0
	for i := range list {
		j := &list[i]
		t, ok := u.Types.Lookup(j.Type)
		if !ok || t.TakesUpload == nil || j.AuthorizationID != authID ||
			(j.State != jobs.StateRunning && j.State != jobs.StateCompleted) || !t.TakesUpload(j, authFolder, path) {
			continue
		}
		first, err := u.Jobs.MarkUploaded(ctx, acct, j.ID)
		if err != nil {
			log.LogAttrs(ctx, slog.LevelError, "upload hook: recording the upload", slog.String("job", j.ID), slog.String("error", err.Error()))
			continue
		}
		started++
		if !first {
			log.LogAttrs(ctx, slog.LevelInfo, "upload joins the job's next run", slog.String("job", j.ID))
			continue
		}
		if err := tasks.EnqueueRun(ctx, u.Enqueuer, tasks.JobRun{Account: acct, JobID: j.ID, Trigger: "upload"}, t.Queue); err != nil {
			started--
			log.LogAttrs(ctx, slog.LevelError, "upload hook: enqueueing the run", slog.String("job", j.ID), slog.String("error", err.Error()))
			// The next upload asks again.
			if terr := u.Jobs.TakeUploads(ctx, acct, j.ID); terr != nil {
				log.LogAttrs(ctx, slog.LevelError, "upload hook: forgetting the upload", slog.String("job", j.ID), slog.String("error", terr.Error()))
			}
			continue
		}
		log.LogAttrs(ctx, slog.LevelInfo, "upload starts a run", slog.String("job", j.ID))
	}
	return started
}
