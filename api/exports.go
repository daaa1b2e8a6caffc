package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/profiles"
)

// ExportInspector previews and traces Export Audience jobs (the export
// engine, adapted in cmd/brazesync). Answers are written as JSON as they
// are.
type ExportInspector interface {
	// PreviewNew previews the first run of a job not created yet.
	PreviewNew(ctx context.Context, j *jobs.Job) (any, error)
	// PreviewJob previews a job's next run.
	PreviewJob(ctx context.Context, j *jobs.Job) (any, error)
	// TraceUser tells where one profile stands in a job.
	TraceUser(ctx context.Context, j *jobs.Job, profileID string) (any, error)
}

// ExportInspection is the route group of what an Export Audience job would
// send (a preview, before anything is sent) and where one user stands in
// it (a trace). Previews are POSTs and take data_manager, as every POST
// does (the monitor token writes nothing); the trace reads.
type ExportInspection struct {
	Accounts  *accounts.Store
	Jobs      *jobs.Store
	Profiles  *profiles.Store
	Inspector ExportInspector
	// JobType is the type of the jobs inspected (export.TypeName).
	JobType string
}

// Routes implements RouteGroup.
func (g *ExportInspection) Routes(r *Router) {
	r.Handle("POST /api/v1/accounts/{account}/jobs/preview", DataManager, g.previewNew)
	// Not a job called "preview".
	r.Refuse("/api/v1/accounts/{account}/jobs/preview", http.MethodPost, http.MethodGet, http.MethodPatch, http.MethodDelete)
	r.Handle("POST /api/v1/accounts/{account}/jobs/{id}/preview", DataManager, g.previewJob)
	r.Handle("GET /api/v1/accounts/{account}/jobs/{id}/users/{field}/{value}", Read, g.traceUser)
}

func (g *ExportInspection) account(r *http.Request) (string, error) {
	acct := r.PathValue("account")
	if ok, err := g.Accounts.Exists(r.Context(), acct); err != nil {
		return "", err
	} else if !ok {
		return "", Errorf(http.StatusNotFound, "not_found", "account %q does not exist", acct)
	}
	return acct, nil
}

// errNotExport answers an inspection of a job of another type.
func (g *ExportInspection) errNotExport(j *jobs.Job) *Error {
	id := j.ID
	if id == "" {
		id = "the job"
	}
	return Errorf(http.StatusUnprocessableEntity, "not_export", "%s is a %s job; only %s jobs have a preview and a per-user trace", id, j.Type, g.JobType)
}

func (g *ExportInspection) job(r *http.Request) (*jobs.Job, error) {
	acct, err := g.account(r)
	if err != nil {
		return nil, err
	}
	j, err := g.Jobs.Get(r.Context(), acct, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if j.Type != g.JobType {
		return nil, g.errNotExport(j)
	}
	return j, nil
}

// previewNew previews the job a create request's body describes, creating
// nothing: the body is checked as POST .../jobs checks it.
func (g *ExportInspection) previewNew(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	in, err := decodeJobBody(w, r, g.Jobs.TypeNames())
	if err != nil {
		return err
	}
	// A preview sends nothing, notifications included: notify is not read.
	j, err := g.Jobs.Check(r.Context(), acct, jobs.Input{Type: in.Type, Label: in.Label, Description: in.Description,
		AuthorizationID: in.AuthorizationID, Config: in.Config, Schedule: in.Schedule})
	if err != nil {
		return err
	}
	if j.Type != g.JobType {
		return g.errNotExport(j)
	}
	p, err := g.Inspector.PreviewNew(r.Context(), j)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (g *ExportInspection) previewJob(w http.ResponseWriter, r *http.Request) error {
	j, err := g.job(r)
	if err != nil {
		return err
	}
	p, err := g.Inspector.PreviewJob(r.Context(), j)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (g *ExportInspection) traceUser(w http.ResponseWriter, r *http.Request) error {
	j, err := g.job(r)
	if err != nil {
		return err
	}
	field, value := r.PathValue("field"), r.PathValue("value")
	id, err := g.Profiles.Resolve(r.Context(), j.Account, map[string]string{field: value})
	if errors.Is(err, profiles.ErrNotFound) {
		return Errorf(http.StatusNotFound, "profile_not_found", "no profile has %s %q", field, value)
	}
	if err != nil {
		return err
	}
	t, err := g.Inspector.TraceUser(r.Context(), j, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}
