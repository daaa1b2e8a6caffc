package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestDestinationsAndSecrets: customer-supplied destinations on internal
// addresses are refused, and a stored secret never follows a changed
// destination.
func TestDestinationsAndSecrets(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		refused := []struct {
			name   string
			config map[string]any
			field  string
		}{
			{"braze to the metadata service", map[string]any{"rest_endpoint": "https://169.254.169.254/"}, "config.rest_endpoint"},
			{"braze to a private address", map[string]any{"rest_endpoint": "https://10.1.2.3"}, "config.rest_endpoint"},
		}
		for _, c := range refused {
			r := a.Call(t, "POST", "/authorizations", map[string]any{"type": "braze", "label": c.name, "config": c.config,
				"secrets": map[string]any{"api_key": "k"}})
			if r.Status != 422 || r.ErrorCode(t) != "destination_forbidden" || r.J(t).Str("error.field") != c.field {
				t.Errorf("%s: %d %s, want 422 destination_forbidden on %s", c.name, r.Status, r.Body, c.field)
			}
		}
		r := a.Call(t, "POST", "/authorizations", map[string]any{"type": "sftp", "label": "private", "config": map[string]any{
			"host": "192.168.1.10", "username": "u"}, "secrets": map[string]any{"password": "pw"}})
		if r.Status != 422 || r.ErrorCode(t) != "destination_forbidden" {
			t.Errorf("sftp to a private address: %d %s", r.Status, r.Body)
		}
		r = a.Call(t, "POST", "/authorizations", map[string]any{"type": "braze", "label": "creds in url", "config": map[string]any{
			"rest_endpoint": "https://user:pw@rest.iad-01.braze.com"}, "secrets": map[string]any{"api_key": "k"}})
		if r.Status != 422 || strings.Contains(string(r.Body), ":pw@") {
			t.Errorf("an endpoint with credentials: %d %s", r.Status, r.Body)
		}

		// Moving a Braze authorization without sending its key again is
		// refused: the key was given for the old endpoint.
		auth, _ := a.BrazeAuth(t)
		r = a.Call(t, "PATCH", "/authorizations/"+auth, map[string]any{"config": map[string]any{"rest_endpoint": "https://rest.fra-01.braze.eu"}})
		if r.Status != 422 {
			t.Errorf("moving a Braze authorization without its key: %d %s", r.Status, r.Body)
		}
		moved := a.Call(t, "PATCH", "/authorizations/"+auth, map[string]any{"config": map[string]any{"rest_endpoint": "https://rest.fra-01.braze.eu"},
			"secrets": map[string]any{"api_key": "new-key"}}).Expect(t, 200)
		if got := moved.Strings("secrets_set"); len(got) != 1 || got[0] != "api_key" {
			t.Errorf("secrets_set after a move with a new key = %v", got)
		}
	})
}

// TestOperatorSurfaces: /metrics needs a token, and /monitoring/ refuses
// cross-site changes.
func TestOperatorSurfaces(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		if r := e.Call(t, "GET", "/metrics", "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("/metrics without a token: %d", r.Status)
		}
		if r := e.Call(t, "GET", "/metrics", e.Monitor, nil); r.Status != http.StatusOK {
			t.Errorf("/metrics with the monitor token: %d", r.Status)
		}
		r := call(t, "POST", e.API+"/monitoring/api/queues/default:pause", e.Admin, "", http.Header{"Origin": {"https://evil.example"}})
		if r.Status != http.StatusForbidden || r.ErrorCode(t) != "cross_origin" {
			t.Errorf("a cross-site pause: %d %s", r.Status, r.Body)
		}
	})
}

// TestInputLimits: what would make reads slow or hide control characters
// is refused with a 422 naming the field.
func TestInputLimits(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		var rule any = map[string]any{"field": "country", "op": "eq", "value": "FR"}
		for range 40 {
			rule = map[string]any{"not": rule}
		}
		r := a.Call(t, "POST", "/audiences", map[string]any{"slug": "deep", "name": "deep", "kind": "rule", "rule": rule})
		if r.Status != 422 || !strings.HasPrefix(r.J(t).Str("error.field"), "rule") {
			t.Errorf("a rule 41 levels deep: %d %s", r.Status, r.Body)
		}
		r = a.Call(t, "POST", "/audiences", map[string]any{"slug": "nul", "name": "a\x00b", "kind": "list"})
		if r.Status != 422 || r.J(t).Str("error.field") != "name" {
			t.Errorf("a name with NUL: %d %s", r.Status, r.Body)
		}
		auth, _ := a.BrazeAuth(t)
		r = a.Call(t, "POST", "/jobs", map[string]any{"type": "braze_export_audience", "label": "feb 31", "authorization_id": auth,
			"config": map[string]any{"audiences": []string{"lytics_all"}}, "schedule": "0 0 31 2 *"})
		if r.Status != 422 || r.J(t).Str("error.field") != "schedule" {
			t.Errorf("a schedule that never fires: %d %s", r.Status, r.Body)
		}
	})
}
