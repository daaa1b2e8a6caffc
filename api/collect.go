package api

import (
	"context"
	"net/http"

	"github.com/brazesync/brazesync/internal/ingest"
)

// AccountChecker tells whether an account exists (an *accounts.Store).
type AccountChecker interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// CollectRoutes is the route group of the collect endpoint, where Braze
// webhooks post user data:
//
//	POST /c/{account}/{stream}    token of that account (data_manager or admin)
//	POST /collect/json/{stream}   the account is the token's own
//
// The token may come as ?key=, ?access_token=, Bearer or a bare
// Authorization header. Answers are Lytics-style: {"status", "message",
// "data": {"message_count", "rejected_count", "rejected"}}.
type CollectRoutes struct {
	Collector *ingest.Collector
	// Accounts, when set, makes the operator token's requests for unknown
	// accounts 404 (account tokens exist only for existing accounts).
	Accounts AccountChecker
}

// Routes registers the collect routes.
func (c CollectRoutes) Routes(r *Router) {
	r.Handle("POST /c/{account}/{stream}", DataManager, c.collect)
	r.Handle("POST /collect/json/{stream}", DataManager, c.collectOwn)
}

func (c CollectRoutes) collect(w http.ResponseWriter, r *http.Request) error {
	acct := r.PathValue("account")
	if p, _ := PrincipalFrom(r.Context()); p.Operator && c.Accounts != nil {
		ok, err := c.Accounts.Exists(r.Context(), acct)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(http.StatusNotFound, "not_found", "account %q does not exist", acct)
		}
	}
	c.Collector.ServeCollect(w, r, acct, r.PathValue("stream"))
	return nil
}

func (c CollectRoutes) collectOwn(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if p.Account == "" {
		return Errorf(http.StatusBadRequest, "no_account", "this token belongs to no account; post to /c/{account}/{stream}")
	}
	c.Collector.ServeCollect(w, r, p.Account, r.PathValue("stream"))
	return nil
}
