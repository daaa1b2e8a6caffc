package api

import (
	"context"
	"net/http"
)

// answer is the shape of a read handler on an account's resource: check
// the request's {account} exists, ask get, answer 200 with what it returns.
func answer[T any](s *Server, w http.ResponseWriter, r *http.Request, get func(ctx context.Context, acct string) (T, error)) error {
	acct, err := s.account(r)
	if err != nil {
		return err
	}
	v, err := get(r.Context(), acct)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// answerList is answer for a listing: 200 with {"data": [...]}.
func answerList[T any](s *Server, w http.ResponseWriter, r *http.Request, list func(ctx context.Context, acct string) ([]T, error)) error {
	return answer(s, w, r, func(ctx context.Context, acct string) (map[string]any, error) {
		l, err := list(ctx, acct)
		if err != nil {
			return nil, err
		}
		return map[string]any{"data": l}, nil
	})
}
