package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/brazesync/brazesync/internal/authorizations"
)

func (s *Server) authorizationRoutes(r *Router) {
	r.Handle("POST /api/v1/accounts/{account}/authorizations", Admin, s.createAuthorization)
	r.Handle("GET /api/v1/accounts/{account}/authorizations", Read, s.listAuthorizations)
	r.Handle("GET /api/v1/accounts/{account}/authorizations/{id}", Read, s.getAuthorization)
	r.Handle("PATCH /api/v1/accounts/{account}/authorizations/{id}", Admin, s.updateAuthorization)
	r.Handle("DELETE /api/v1/accounts/{account}/authorizations/{id}", Admin, s.deleteAuthorization)
	r.Handle("POST /api/v1/accounts/{account}/authorizations/{id}/test", Admin, s.testAuthorization)
}

type authorizationBody struct {
	Type        string            `json:"type"`
	Label       *string           `json:"label"`
	Description *string           `json:"description"`
	Config      map[string]any    `json:"config"`
	Secrets     map[string]string `json:"secrets"`
}

func (b authorizationBody) input() authorizations.Input {
	return authorizations.Input{Type: b.Type, Label: b.Label, Description: b.Description, Config: b.Config, Secrets: b.Secrets}
}

func (s *Server) createAuthorization(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	var in authorizationBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Type == "" {
		return Invalid("type", "is required: one of "+joinNames(s.d.Authorizations.Types().Names()))
	}
	a, shown, err := s.d.Authorizations.Create(r.Context(), acct, in.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		*authorizations.Authorization
		Shown map[string]any `json:"shown_once,omitempty"`
	}{a, shown})
	return nil
}

func (s *Server) listAuthorizations(w http.ResponseWriter, r *http.Request) error {
	return answerList(s, w, r, s.d.Authorizations.List)
}

func (s *Server) getAuthorization(w http.ResponseWriter, r *http.Request) error {
	return answer(s, w, r, func(ctx context.Context, acct string) (*authorizations.Authorization, error) {
		return s.d.Authorizations.Get(ctx, acct, r.PathValue("id"))
	})
}

func (s *Server) updateAuthorization(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	var in authorizationBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.d.Authorizations.Update(r.Context(), acct, r.PathValue("id"), in.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) deleteAuthorization(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.d.Authorizations.Get(r.Context(), acct, id); err != nil {
		return err
	}
	list, err := s.d.Jobs.List(r.Context(), acct, false)
	if err != nil {
		return err
	}
	for _, j := range list {
		if j.AuthorizationID == id {
			return Errorf(http.StatusConflict, "in_use", "authorization is used by job %s (%s); delete the job first", j.ID, j.Label)
		}
	}
	if err := s.d.Authorizations.Delete(r.Context(), acct, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) testAuthorization(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	pin, err := boolParam(r, "pin")
	if err != nil {
		return err
	}
	a, err := s.d.Authorizations.Get(r.Context(), acct, r.PathValue("id"))
	if err != nil {
		return err
	}
	tester, ok := s.d.AuthorizationTesters[a.Type]
	if !ok {
		return Errorf(http.StatusUnprocessableEntity, "not_testable", "%s authorizations cannot be tested", a.Type)
	}
	res, err := tester.Test(r.Context(), acct, a.ID, pin)
	if err != nil {
		if toError(err) != nil {
			return err
		}
		// A failed test is an answer, not an API error: its code is stable
		// (e.g. destination_forbidden, no_ssh_server, host_key_mismatch).
		code := "test_failed"
		var coded interface{ Code() string }
		if errors.As(err, &coded) {
			code = coded.Code()
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "code": code, "error": err.Error(), "result": res})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res})
	return nil
}

func joinNames(n []string) string { return strings.Join(n, ", ") }
