package e2e

import (
	"net/http"
	"testing"
)

// TestAuthMatrix: on one route of each group, no token and a wrong token
// get 401, a read-only token reads but cannot write (403), and another
// account's admin token gets 403.
func TestAuthMatrix(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		other := e.NewAccount(t)
		read := a.NewToken(t, "read")
		base := "/api/v1/accounts/" + a.ID
		routes := []struct {
			method, path string
			body         any
			write        bool
		}{
			{"GET", base, nil, false},
			{"GET", base + "/tokens", nil, true}, // tokens are admin-only
			{"POST", base + "/tokens", map[string]any{"name": "x", "scopes": []string{"read"}}, true},
			{"GET", base + "/authorizations", nil, false},
			{"POST", base + "/authorizations", map[string]any{"type": "braze", "label": "x"}, true},
			{"GET", base + "/jobs", nil, false},
			{"POST", base + "/jobs", map[string]any{"type": "csv_import"}, true},
			{"GET", base + "/audiences", nil, false},
			{"POST", base + "/audiences", map[string]any{"slug": "x", "name": "x", "kind": "list"}, true},
			{"GET", base + "/profiles/email/nobody@example.com", nil, false},
			{"POST", base + "/profiles?stream=braze_users", []map[string]any{{"email": "x@example.com"}}, true},
			{"POST", "/c/" + a.ID + "/braze_users", map[string]any{"email": "y@example.com"}, true},
		}
		for _, r := range routes {
			for _, c := range []struct {
				who   string
				token string
				want  int
			}{
				{"no token", "", http.StatusUnauthorized},
				{"a wrong token", "bs_wrong" + randomHex(12), http.StatusUnauthorized},
				{"another account's admin token", other.Token, http.StatusForbidden},
			} {
				if got := e.Call(t, r.method, r.path, c.token, r.body).Status; got != c.want {
					t.Errorf("%s %s with %s: %d, want %d", r.method, r.path, c.who, got, c.want)
				}
			}
			got := e.Call(t, r.method, r.path, read, r.body)
			switch {
			case r.write && got.Status != http.StatusForbidden:
				t.Errorf("%s %s with a read-only token: %d, want 403", r.method, r.path, got.Status)
			case !r.write && got.Status != http.StatusOK && got.Status != http.StatusNotFound:
				t.Errorf("%s %s with a read-only token: %d %s, want it read", r.method, r.path, got.Status, got.Body)
			}
			if got.Status == http.StatusForbidden && got.ErrorCode(t) != "forbidden" {
				t.Errorf("%s %s: 403 code %q", r.method, r.path, got.ErrorCode(t))
			}
		}
		// Operator routes take the operator token only.
		if got := e.Call(t, "GET", "/api/v1/accounts", a.Token, nil).Status; got != http.StatusForbidden {
			t.Errorf("listing accounts with an account's admin token: %d, want 403", got)
		}
		if got := e.Call(t, "GET", "/api/v1/accounts", e.Admin, nil).Status; got != http.StatusOK {
			t.Errorf("listing accounts with the operator token: %d", got)
		}
	})
}
