package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/jobs"
)

// RejectedRows serves the rows an import run rejected
// (*importjob.RejectedStore).
type RejectedRows interface {
	// WriteRun writes the rejected rows of a run as CSV (of one file when
	// file is not "") and returns how many files' rows it wrote.
	WriteRun(ctx context.Context, w io.Writer, account, job, run, file string) (int, error)
}

// ImportFiles is the route group of an Import CSV job's file ledger: which
// file versions were imported or failed, retrying a failed one, and the
// rows a run rejected.
type ImportFiles struct {
	Accounts *accounts.Store
	Jobs     *jobs.Store
	Ledger   *csvimport.Ledger
	// JobType is the type of the jobs that keep a file ledger
	// (importjob.TypeName).
	JobType  string
	Rejected RejectedRows
}

// Routes implements RouteGroup.
func (g *ImportFiles) Routes(r *Router) {
	r.Handle("GET /api/v1/accounts/{account}/jobs/{id}/files", Read, g.list)
	r.Handle("POST /api/v1/accounts/{account}/jobs/{id}/files/retry", DataManager, g.retry)
	r.Handle("GET /api/v1/accounts/{account}/jobs/{id}/runs/{run}/rejected", Read, g.rejected)
}

func (g *ImportFiles) job(r *http.Request) (*jobs.Job, error) {
	acct := r.PathValue("account")
	if ok, err := g.Accounts.Exists(r.Context(), acct); err != nil {
		return nil, err
	} else if !ok {
		return nil, Errorf(http.StatusNotFound, "not_found", "account %q does not exist", acct)
	}
	j, err := g.Jobs.Get(r.Context(), acct, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if j.Type != g.JobType {
		return nil, Errorf(http.StatusUnprocessableEntity, "not_import", "job %s is a %s job; files belong to %s jobs", j.ID, j.Type, g.JobType)
	}
	return j, nil
}

func (g *ImportFiles) list(w http.ResponseWriter, r *http.Request) error {
	j, err := g.job(r)
	if err != nil {
		return err
	}
	entries, err := g.Ledger.List(r.Context(), csvimport.Job{Account: j.Account, ID: j.ID})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": entries})
	return nil
}

// retry forgets the ledger entries of a path (every version, or the failed
// ones only) so that the next run imports it again.
func (g *ImportFiles) retry(w http.ResponseWriter, r *http.Request) error {
	j, err := g.job(r)
	if err != nil {
		return err
	}
	var in struct {
		Path string `json:"path"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Path == "" {
		return Invalid("path", "is required: the file's path as GET .../files lists it")
	}
	job := csvimport.Job{Account: j.Account, ID: j.ID}
	entries, err := g.Ledger.List(r.Context(), job)
	if err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		if e.Path == in.Path {
			if ok, err := g.Ledger.Reset(r.Context(), job, e.FileVersion); err != nil {
				return err
			} else if ok {
				n++
			}
		}
	}
	if n == 0 {
		return Errorf(http.StatusNotFound, "not_found", "the job has no ledger entry for %q", in.Path)
	}
	writeJSON(w, http.StatusOK, map[string]any{"reset": n, "message": "the next run imports the file again; POST .../run to run now"})
	return nil
}

// rejected serves the rows a run rejected as CSV: the file's columns,
// _line and _reason (see importjob.WriteRejected); ?file= picks one file
// of a run that imported several.
func (g *ImportFiles) rejected(w http.ResponseWriter, r *http.Request) error {
	j, err := g.job(r)
	if err != nil {
		return err
	}
	runID := r.PathValue("run")
	run, err := g.Jobs.GetRun(r.Context(), j.Account, j.ID, runID)
	if errors.Is(err, jobs.ErrNotFound) {
		return Errorf(http.StatusNotFound, "not_found", "job %s has no run %q", j.ID, runID)
	}
	if err != nil {
		return err
	}
	only := r.URL.Query().Get("file")
	var b bytes.Buffer
	n := 0
	if g.Rejected != nil {
		if n, err = g.Rejected.WriteRun(r.Context(), &b, j.Account, j.ID, run.ID, only); err != nil {
			return err
		}
	}
	switch {
	case n == 0 && only != "":
		return &Error{Status: http.StatusNotFound, Code: "not_found", Field: "file", Message: fmt.Sprintf("run %s kept no rejected rows of %q", run.ID, only)}
	case n == 0 && run.Counters["rejected"] > 0:
		return Errorf(http.StatusNotFound, "rejected_rows_expired", "the %d rows run %s rejected are no longer kept (IMPORT_REJECTED_RETENTION)", run.Counters["rejected"], run.ID)
	case n == 0:
		b.WriteString(csvimport.LineColumn + "," + csvimport.ReasonColumn + "\n")
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", run.ID+".rejected.csv"))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}
