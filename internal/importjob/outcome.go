package importjob

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/sftpclient"
)

// fileRun is one file of a run, for what follows its import.
type fileRun struct {
	j      *jobs.Job
	run    *jobs.Run
	c      Config
	client *sftpclient.Client
	f      sftpclient.FileInfo
	v      csvimport.FileVersion
	job    csvimport.Job
}

// countFile adds a file's counts to a run once per file version (a file a
// taken-over import had counted is not counted again); it reports whether
// it counted.
func (r *Runner) countFile(ctx context.Context, j *jobs.Job, runID string, v csvimport.FileVersion, rep *csvimport.Report, outcome string) (bool, error) {
	c := map[string]int64{outcome: 1}
	if rep != nil {
		c["rows_read"], c["applied"], c["unchanged"], c["rejected"] = rep.RowsRead, rep.Applied, rep.Unchanged, rep.Rejected
	}
	return r.jobs.CountOnce(ctx, j.Account, j.ID, runID, "file:"+v.ID(), c)
}

// rejectedBudget sets how many rejected rows fc's file may keep: what the
// run has left of its bounds.
func (r *Runner) rejectedBudget(ctx context.Context, fr *fileRun, cfg *csvimport.Config) error {
	if r.opts.Rejected == nil {
		cfg.RejectedRowsMax, cfg.RejectedBytesMax = -1, -1
		return nil
	}
	rows, n, err := r.opts.Rejected.budget(ctx, fr.j.Account, fr.j.ID, fr.run.ID, fr.f.Path)
	if err != nil {
		return err
	}
	cfg.RejectedRowsMax, cfg.RejectedBytesMax = rows, n
	if rows <= 0 || n <= 0 {
		cfg.RejectedRowsMax, cfg.RejectedBytesMax = -1, -1
	}
	return nil
}

// keepRejected stores the file's rejected rows with the run and, with
// errors_folder, writes them beside the file's folder as
// <errors_folder>/<name>.rejected.csv. It returns what to add to the
// file's log entry.
func (r *Runner) keepRejected(ctx context.Context, fr *fileRun, rep *csvimport.Report) (string, error) {
	if rep == nil || rep.RejectedRows.Len() == 0 || r.opts.Rejected == nil {
		return "", nil
	}
	data, err := r.opts.Rejected.Save(ctx, fr.j.Account, fr.j.ID, fr.run.ID, fr.f.Path, rep.RejectedRows)
	if err != nil {
		return "", err
	}
	note := fmt.Sprintf("; every rejected row: GET /api/v1/accounts/%s/jobs/%s/runs/%s/rejected", fr.j.Account, fr.j.ID, fr.run.ID)
	if fr.c.ErrorsFolder == "" {
		return note, nil
	}
	dest := path.Join(fr.c.ErrorsFolder, path.Base(fr.f.Path)+".rejected.csv")
	err = fr.client.Mkdir(ctx, fr.c.ErrorsFolder)
	if err == nil {
		_, err = fr.client.Upload(ctx, dest, bytes.NewReader(data))
	}
	if err != nil {
		if lerr := r.jobs.Log(ctx, fr.j.Account, fr.j.ID, jobs.Entry{Level: "warn", Code: "rejected_file_not_written", RunID: fr.run.ID,
			Message: fmt.Sprintf("%s: writing its rejected rows to %s: %v", fr.f.Path, dest, err)}); lerr != nil {
			return note, lerr
		}
		return note, nil
	}
	return note + ", and " + dest, nil
}

// imported records an imported file: its rejected rows, its counts and
// log entry (once), and the after-import action.
func (r *Runner) imported(ctx context.Context, fr *fileRun, rep *csvimport.Report) error {
	note, err := r.keepRejected(ctx, fr, rep)
	if err != nil {
		return err
	}
	counted, err := r.countFile(ctx, fr.j, fr.run.ID, fr.v, rep, "files_imported")
	if err != nil {
		return err
	}
	if counted {
		if err := r.jobs.Log(ctx, fr.j.Account, fr.j.ID, jobs.Entry{Level: "info", Code: "file_imported", RunID: fr.run.ID,
			Message:  fmt.Sprintf("%s: %d rows read, %d applied, %d unchanged, %d rejected%s%s", fr.f.Path, rep.RowsRead, rep.Applied, rep.Unchanged, rep.Rejected, rejectionSample(rep), note),
			Counters: map[string]int64{"rows_read": rep.RowsRead, "applied": rep.Applied, "rejected": rep.Rejected}}); err != nil {
			return err
		}
	}
	if err := afterImport(ctx, fr.client, fr.c, fr.f.Path); err != nil {
		return r.jobs.Log(ctx, fr.j.Account, fr.j.ID, jobs.Entry{Level: "warn", Code: "after_import_failed", RunID: fr.run.ID, Message: fmt.Sprintf("%s: %v", fr.f.Path, err)})
	}
	return nil
}

// failed records a file that failed: its rejected rows, where it was
// moved (on_failure move; the ledger remembers it, so that a file
// uploaded under the same name is a new one), its counts and log entry.
// It returns the failure's message.
func (r *Runner) failed(ctx context.Context, fr *fileRun, rep *csvimport.Report, ferr error) (string, error) {
	note, err := r.keepRejected(ctx, fr, rep)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%s: %v; no row of it was applied%s", fr.f.Path, ferr, rejectionSample(rep))
	if fr.c.OnFailure == FailureMove {
		dest := path.Join(fr.c.FailedFolder, path.Base(fr.f.Path))
		if err := moveFile(ctx, fr.client, fr.f.Path, fr.c.FailedFolder); err != nil {
			if lerr := r.jobs.Log(ctx, fr.j.Account, fr.j.ID, jobs.Entry{Level: "warn", Code: "failed_file_not_moved", RunID: fr.run.ID,
				Message: fmt.Sprintf("%s: moving it to %s: %v; it stays where it is", fr.f.Path, dest, err)}); lerr != nil {
				return msg, lerr
			}
		} else {
			e, found, err := r.importer.Ledger.Get(ctx, fr.job, fr.v)
			if err != nil {
				return msg, err
			}
			if found {
				e.MovedTo = dest
				if err := r.importer.Ledger.MarkMoved(ctx, fr.job, e); err != nil {
					return msg, err
				}
			}
			msg += "; moved to " + dest
		}
	}
	counted, err := r.countFile(ctx, fr.j, fr.run.ID, fr.v, rep, "files_failed")
	if err != nil {
		return msg, err
	}
	if counted {
		if err := r.jobs.Log(ctx, fr.j.Account, fr.j.ID, jobs.Entry{Level: "error", Code: "file_failed", RunID: fr.run.ID, Message: msg + note}); err != nil {
			return msg, err
		}
	}
	return msg, nil
}

// moveFile moves the file at p into folder (created when missing).
func moveFile(ctx context.Context, client *sftpclient.Client, p, folder string) error {
	if err := client.Mkdir(ctx, folder); err != nil {
		return err
	}
	return client.Rename(ctx, p, path.Join(folder, path.Base(p)))
}

func afterImport(ctx context.Context, client *sftpclient.Client, c Config, p string) error {
	switch c.AfterImport {
	case AfterDelete:
		return client.Remove(ctx, p)
	case AfterMove:
		return moveFile(ctx, client, p, c.MoveTo)
	}
	return nil
}

func rejectionSample(rep *csvimport.Report) string {
	if rep == nil || len(rep.Rejections) == 0 {
		return ""
	}
	var parts []string
	for _, rj := range rep.Rejections[:min(5, len(rep.Rejections))] {
		parts = append(parts, fmt.Sprintf("line %d: %s", rj.Line, rj.Reason))
	}
	return "; rejected rows: " + strings.Join(parts, "; ")
}
