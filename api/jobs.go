package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/notify"
	"github.com/brazesync/brazesync/tasks"
)

func (s *Server) jobRoutes(r *Router) {
	r.Handle("POST /api/v1/accounts/{account}/jobs", DataManager, s.createJob)
	r.Handle("GET /api/v1/accounts/{account}/jobs", Read, s.listJobs)
	r.Handle("GET /api/v1/accounts/{account}/jobs/{id}", Read, s.getJob)
	r.Handle("PATCH /api/v1/accounts/{account}/jobs/{id}", DataManager, s.updateJob)
	r.Handle("DELETE /api/v1/accounts/{account}/jobs/{id}", DataManager, s.deleteJob)
	r.Handle("POST /api/v1/accounts/{account}/jobs/{id}/pause", DataManager, s.pauseJob)
	r.Handle("POST /api/v1/accounts/{account}/jobs/{id}/resume", DataManager, s.resumeJob)
	r.Handle("POST /api/v1/accounts/{account}/jobs/{id}/run", DataManager, s.runJob)
	r.Handle("GET /api/v1/accounts/{account}/jobs/{id}/runs", Read, s.jobRuns)
	r.Handle("GET /api/v1/accounts/{account}/jobs/{id}/logs", Read, s.jobLogs)
}

type jobBody struct {
	Type            string         `json:"type"`
	Label           *string        `json:"label"`
	Description     *string        `json:"description"`
	AuthorizationID *string        `json:"authorization_id"`
	Config          map[string]any `json:"config"`
	Schedule        *string        `json:"schedule"`
	// Notify is absent (unchanged), null (removed) or notifyBody.
	Notify json.RawMessage `json:"notify"`
}

// notifyBody is a job's notify settings as a request gives them.
type notifyBody struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// RotateSecret gives a job that has a secret a new one (PATCH).
	RotateSecret bool `json:"rotate_secret"`
}

// input returns the job input of a create or PATCH of job id of acct:
// notify settings checked, with a new sealed secret the store uses when
// the job has none yet or rotate_secret asks for one.
func (s *Server) jobInput(b jobBody, acct, id string) (jobs.Input, error) {
	in := jobs.Input{Type: b.Type, Label: b.Label, Description: b.Description, AuthorizationID: b.AuthorizationID, Config: b.Config, Schedule: b.Schedule}
	raw := bytes.TrimSpace(b.Notify)
	switch {
	case len(raw) == 0:
		return in, nil
	case bytes.Equal(raw, []byte("null")):
		in.RemoveNotify = true
		return in, nil
	case s.d.Notify == nil:
		return in, Invalid("notify", "notifications are not available on this server")
	}
	var nb notifyBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nb); err != nil {
		return in, Invalid("notify", `must be null or an object {"url": "https://...", "events": ["run_completed", "run_failed", "health_changed"]}`)
	}
	n, err := s.d.Notify.Checker.Check(nb.URL, nb.Events)
	var fe *egress.ForbiddenError
	switch {
	case errors.As(err, &fe):
		return in, &Error{Status: http.StatusUnprocessableEntity, Code: egress.Code, Field: "notify.url", Message: "notify.url: " + fe.Error()}
	case err != nil:
		return in, err
	}
	n.Secret, n.SealedSecret, err = notify.NewSecret(s.d.Notify.Box, acct, id)
	if err != nil {
		return in, err
	}
	n.RotateSecret = nb.RotateSecret
	in.Notify = n
	return in, nil
}

// errRunInProgress answers a run asked for while one is queued or running.
func errRunInProgress(id string) *Error {
	return Errorf(http.StatusConflict, "run_in_progress", "a run of job %s is queued or running; no other was started (see its runs)", id)
}

// enqueueRun puts one run of j into its queue, unless a run asked for
// through the API is queued or running: then it returns false. A copy
// that ended for good (archived after a failure) makes room.
func (s *Server) enqueueRun(ctx context.Context, j *jobs.Job, trigger string) (bool, error) {
	run := tasks.JobRun{Account: j.Account, JobID: j.ID, Trigger: trigger, RunID: jobs.NewRunID()}
	for range 3 {
		started, err := tasks.EnqueueRequestedRun(ctx, s.d.Enqueuer, run, s.d.Types.Queue(j.Type))
		if started || err != nil {
			return started, err
		}
		busy, err := s.runQueued(j)
		if busy || err != nil {
			return false, err
		}
	}
	return false, nil
}

// runQueued reports whether a run of j asked for through the API is
// queued or running (tasks.RequestedRunQueued); with no inspector, a run
// is always taken to be queued, and the enqueue's own refusal decides.
func (s *Server) runQueued(j *jobs.Job) (bool, error) {
	if s.d.RunTasks == nil {
		return true, nil
	}
	return tasks.RequestedRunQueued(s.d.RunTasks, j.Account, j.ID, s.d.Types.Queue(j.Type))
}

// notify tells the job's type about a change (its change hook).
func (s *Server) notify(ctx context.Context, before, after *jobs.Job) {
	if err := s.d.Types.Changed(ctx, before, after); err != nil {
		s.d.Logger.ErrorContext(ctx, "job change hook failed", "job", after.ID, "type", after.Type, "err", err)
	}
}

// decodeJobBody reads the body of a job create request (or of its
// preview), which must name one of the job types types.
func decodeJobBody(w http.ResponseWriter, r *http.Request, types []string) (jobBody, error) {
	var in jobBody
	if err := decode(w, r, &in); err != nil {
		return in, err
	}
	if in.Type == "" {
		return in, Invalid("type", "is required: one of "+joinNames(types))
	}
	return in, nil
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	in, err := decodeJobBody(w, r, s.d.Jobs.TypeNames())
	if err != nil {
		return err
	}
	// The id is chosen first: a notify secret is sealed for its job.
	id := jobs.NewJobID()
	input, err := s.jobInput(in, acct, id)
	if err != nil {
		return err
	}
	input.ID, input.RemoveNotify = id, false
	j, err := s.d.Jobs.Create(r.Context(), acct, input)
	if err != nil {
		return err
	}
	s.notify(r.Context(), nil, j)
	// A job runs at once unless its creator gave it a schedule: one its
	// type gave it (csv_import's keep_updated polls every 15 minutes) does
	// not delay its first run.
	if in.Schedule == nil || *in.Schedule == "" {
		if _, err := s.enqueueRun(r.Context(), j, "create"); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	deleted, err := boolParam(r, "deleted")
	if err != nil {
		return err
	}
	list, err := s.d.Jobs.List(r.Context(), acct, deleted)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	j, err := s.d.Jobs.Describe(r.Context(), acct, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// change applies f to the job of the request and answers the job as it is
// then; after runs when f changed it. The answer shows the notify secret
// f's job carries (a new one, shown once).
func (s *Server) change(w http.ResponseWriter, r *http.Request, f func(ctx context.Context, acct, id string) (*jobs.Job, error), after func(*jobs.Job) error) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	before, err := s.d.Jobs.Get(r.Context(), acct, r.PathValue("id"))
	if err != nil {
		return err
	}
	j, err := f(r.Context(), acct, before.ID)
	if err != nil {
		return err
	}
	// A transition that changed nothing (pausing a paused job) has no
	// effect at all.
	if j.Version != before.Version {
		s.notify(r.Context(), before, j)
		if after != nil {
			if err := after(j); err != nil {
				return err
			}
		}
	}
	d, err := s.d.Jobs.Describe(r.Context(), acct, j.ID)
	if err != nil {
		return err
	}
	if j.Notify != nil && j.Notify.Secret != "" && d.Notify != nil && d.Notify.SealedSecret == j.Notify.SealedSecret {
		d.Notify.Secret = j.Notify.Secret
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) updateJob(w http.ResponseWriter, r *http.Request) error {
	var in jobBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	return s.change(w, r, func(ctx context.Context, acct, id string) (*jobs.Job, error) {
		input, err := s.jobInput(in, acct, id)
		if err != nil {
			return nil, err
		}
		return s.d.Jobs.Update(ctx, acct, id, input)
	}, nil)
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) error {
	return s.change(w, r, s.d.Jobs.Delete, nil)
}

func (s *Server) pauseJob(w http.ResponseWriter, r *http.Request) error {
	return s.change(w, r, s.d.Jobs.Pause, nil)
}

// resumeJob makes a job running again; one without a schedule runs at
// once (unless a run is already queued or running).
func (s *Server) resumeJob(w http.ResponseWriter, r *http.Request) error {
	return s.change(w, r, s.d.Jobs.Resume, func(j *jobs.Job) error {
		if j.Schedule == "" {
			_, err := s.enqueueRun(r.Context(), j, "resume")
			return err
		}
		return nil
	})
}

// runJob starts a run now. While a run asked for through the API (at
// creation, resume or run) is queued or running, it answers 409
// run_in_progress and changes nothing.
func (s *Server) runJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	before, err := s.d.Jobs.Get(ctx, acct, r.PathValue("id"))
	if err != nil {
		return err
	}
	if s.d.RunTasks != nil {
		if busy, err := s.runQueued(before); err != nil {
			return err
		} else if busy {
			return errRunInProgress(before.ID)
		}
	}
	j, err := s.d.Jobs.PrepareRun(ctx, acct, before.ID)
	if err != nil {
		return err
	}
	if j.Version != before.Version {
		s.notify(ctx, before, j)
	}
	started, err := s.enqueueRun(ctx, j, "manual")
	if err != nil {
		return err
	}
	if !started {
		return errRunInProgress(j.ID)
	}
	d, err := s.d.Jobs.Describe(ctx, acct, j.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) jobRuns(w http.ResponseWriter, r *http.Request) error {
	return jobHistory(s, w, r, 20, 100, s.d.Jobs.Runs)
}

func (s *Server) jobLogs(w http.ResponseWriter, r *http.Request) error {
	return jobHistory(s, w, r, 100, 1000, s.d.Jobs.Logs)
}

// jobHistory answers the latest ?limit= (default def, at most max) entries
// fetch returns for the request's job, which must exist.
func jobHistory[T any](s *Server, w http.ResponseWriter, r *http.Request, def, max int64, fetch func(ctx context.Context, account, id string, limit int64) ([]T, error)) error {
	return answerList(s, w, r, func(ctx context.Context, acct string) ([]T, error) {
		n, err := limitParam(r, def, max)
		if err != nil {
			return nil, err
		}
		if _, err := s.d.Jobs.Get(ctx, acct, r.PathValue("id")); err != nil {
			return nil, err
		}
		return fetch(ctx, acct, r.PathValue("id"), n)
	})
}
