package api

import (
	"context"
	"net/http"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
)

func (s *Server) accountRoutes(r *Router) {
	r.Handle("POST /api/v1/accounts", OperatorOnly, s.createAccount)
	r.Handle("GET /api/v1/accounts", OperatorOnly, s.listAccounts)
	r.Handle("GET /api/v1/accounts/{account}", Read, s.getAccount)
	r.Handle("POST /api/v1/accounts/{account}/tokens", Admin, s.createToken)
	r.Handle("GET /api/v1/accounts/{account}/tokens", Admin, s.listTokens)
	r.Handle("DELETE /api/v1/accounts/{account}/tokens/{id}", Admin, s.revokeToken)
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.d.Accounts.Create(r.Context(), in.ID, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	list, err := s.d.Accounts.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.d.Accounts.Get(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	var in struct {
		Name        string     `json:"name"`
		Description string     `json:"description"`
		Scopes      []string   `json:"scopes"`
		ExpiresAt   *time.Time `json:"expires_at"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	tok, secret, err := s.d.Accounts.CreateToken(r.Context(), acct, accounts.NewToken{Name: in.Name, Description: in.Description, Scopes: in.Scopes, ExpiresAt: in.ExpiresAt})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		*accounts.Token
		Secret string `json:"token"`
	}{tok, secret})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	return answerList(s, w, r, s.d.Accounts.ListTokens)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	return answer(s, w, r, func(ctx context.Context, acct string) (*accounts.Token, error) {
		return s.d.Accounts.RevokeToken(ctx, acct, r.PathValue("id"))
	})
}
