package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// route is one call of the API with a body good enough to pass validation
// of its shape.
type route struct {
	method, path string
	access       Access
	body         any
}

func routesFor(acct, authID, jobID, tokID string) []route {
	a := "/api/v1/accounts/" + acct
	return []route{
		{"GET", a, Read, nil},
		{"POST", a + "/tokens", Admin, map[string]any{"name": "x", "scopes": []string{"read"}}},
		{"GET", a + "/tokens", Admin, nil},
		{"DELETE", a + "/tokens/" + tokID, Admin, nil},
		{"POST", a + "/authorizations", Admin, map[string]any{"type": "braze", "label": "b", "config": map[string]any{"instance": "US-01"}, "secrets": map[string]any{"api_key": "k"}}},
		{"GET", a + "/authorizations", Read, nil},
		{"GET", a + "/authorizations/" + authID, Read, nil},
		{"PATCH", a + "/authorizations/" + authID, Admin, map[string]any{"label": "renamed"}},
		{"POST", a + "/authorizations/" + authID + "/test", Admin, nil},
		{"POST", a + "/jobs", DataManager, map[string]any{"type": "noop", "label": "j"}},
		{"GET", a + "/jobs", Read, nil},
		{"GET", a + "/jobs/" + jobID, Read, nil},
		{"PATCH", a + "/jobs/" + jobID, DataManager, map[string]any{"label": "renamed"}},
		{"POST", a + "/jobs/" + jobID + "/pause", DataManager, nil},
		{"POST", a + "/jobs/" + jobID + "/resume", DataManager, nil},
		{"POST", a + "/jobs/" + jobID + "/run", DataManager, nil},
		{"GET", a + "/jobs/" + jobID + "/runs", Read, nil},
		{"GET", a + "/jobs/" + jobID + "/logs", Read, nil},
		{"DELETE", a + "/jobs/" + jobID, DataManager, nil},
		{"DELETE", a + "/authorizations/" + authID, Admin, nil},
	}
}

var scopeRank = map[string]int{"read": 1, "data_manager": 2, "admin": 3}

// TestScopeAndAccountMatrix calls every account route with a token of each
// scope, of another account, expired, revoked and missing.
func TestScopeAndAccountMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	other := b.account(t, "other")
	_, out := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", toks["admin"], routesFor("acme", "", "", "")[4].body)
	authID := out["id"].(string)
	_, out = b.do(t, "POST", "/api/v1/accounts/acme/jobs", toks["admin"], map[string]any{"type": "noop", "label": "j"})
	jobID := out["id"].(string)
	_, out = b.do(t, "POST", "/api/v1/accounts/acme/tokens", toks["admin"], map[string]any{"name": "victim", "scopes": []string{"read"}})
	tokID := out["id"].(string)

	for _, rt := range routesFor("acme", authID, jobID, tokID) {
		name := rt.method + " " + rt.path
		for _, tc := range []struct {
			tok  string
			want int // 0: allowed
		}{
			{"", 401}, {toks["expired"], 401}, {toks["revoked"], 401}, {"bogus-token", 401},
			{other["admin"], 403},
		} {
			if code, out := b.do(t, rt.method, rt.path, tc.tok, rt.body); code != tc.want {
				t.Errorf("%s with bad token: got %d %v, want %d", name, code, out, tc.want)
			}
		}
		for _, sc := range []string{"read", "data_manager"} {
			code, _ := b.do(t, rt.method, rt.path, toks[sc], rt.body)
			if scopeRank[sc] < scopeRank[rt.access.Scope] && code != 403 {
				t.Errorf("%s with %s token: got %d, want 403", name, sc, code)
			}
			if scopeRank[sc] >= scopeRank[rt.access.Scope] && (code == 401 || code == 403) {
				t.Errorf("%s with %s token: refused with %d", name, sc, code)
			}
		}
		if code, out := b.do(t, rt.method, rt.path, toks["admin"], rt.body); code == 401 || code == 403 || code >= 500 {
			t.Errorf("%s with admin token: %d %v", name, code, out)
		}
	}
	// Operator routes refuse account tokens.
	if code, _ := b.do(t, "GET", "/api/v1/accounts", toks["admin"], nil); code != 403 {
		t.Errorf("account admin listed accounts: %d", code)
	}
	if code, _ := b.do(t, "POST", "/api/v1/accounts", "", map[string]any{"id": "x"}); code != 401 {
		t.Errorf("anonymous created an account: %d", code)
	}
	// The operator token reaches every account but not a missing one.
	if code, _ := b.do(t, "GET", "/api/v1/accounts/acme/jobs", operatorToken, nil); code != 200 {
		t.Errorf("operator: %d", code)
	}
	if code, out := b.do(t, "GET", "/api/v1/accounts/ghost/jobs", operatorToken, nil); code != 404 || errCode(out) != "not_found" {
		t.Errorf("missing account: %d %v", code, out)
	}
}

func TestTokenForms(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	for _, mk := range []func(*http.Request){
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+toks["read"]) },
		func(r *http.Request) { r.Header.Set("Authorization", toks["read"]) },
		func(r *http.Request) { q := r.URL.Query(); q.Set("key", toks["read"]); r.URL.RawQuery = q.Encode() },
		func(r *http.Request) {
			q := r.URL.Query()
			q.Set("access_token", toks["read"])
			r.URL.RawQuery = q.Encode()
		},
	} {
		req, _ := http.NewRequest("GET", b.http.URL+"/api/v1/accounts/acme/jobs", nil)
		mk(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("token form %v: %d", req.Header, resp.StatusCode)
		}
	}
}

func TestErrorShapes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	adm := toks["admin"]
	cases := []struct {
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"POST", "/api/v1/accounts/acme/jobs", "{not json", 400, "malformed", ""},
		{"POST", "/api/v1/accounts/acme/jobs", "", 400, "malformed", ""},
		{"POST", "/api/v1/accounts/acme/jobs", map[string]any{"type": "noop", "label": "x", "colour": 1}, 400, "unknown_field", ""},
		{"POST", "/api/v1/accounts/acme/jobs", map[string]any{"type": "noop", "label": 5}, 422, "invalid", "label"},
		{"POST", "/api/v1/accounts/acme/jobs", map[string]any{"label": "x"}, 422, "invalid", "type"},
		{"POST", "/api/v1/accounts/acme/jobs", map[string]any{"type": "needs_braze", "label": "x", "authorization_id": "au_nope"}, 422, "invalid", "authorization_id"},
		{"POST", "/api/v1/accounts/acme/jobs", map[string]any{"type": "noop", "label": "x", "schedule": "sometimes"}, 422, "invalid", "schedule"},
		{"POST", "/api/v1/accounts/acme/jobs", `{"type":"noop","label":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, "too_large", ""},
		{"POST", "/api/v1/accounts/acme/authorizations", map[string]any{"type": "braze", "label": "x", "config": map[string]any{"instance": "XX-99"}, "secrets": map[string]any{"api_key": "k"}}, 422, "invalid", "config.instance"},
		{"GET", "/api/v1/accounts/acme/jobs/job_nope", nil, 404, "not_found", ""},
		{"GET", "/api/v1/accounts/acme/jobs/job_nope/runs?limit=0", nil, 422, "invalid", "limit"},
		{"GET", "/api/v1/accounts/acme/jobs/job_nope/logs?limit=ten", nil, 422, "invalid", "limit"},
		{"GET", "/api/v1/accounts/acme/jobs?deleted=maybe", nil, 422, "invalid", "deleted"},
		{"POST", "/api/v1/accounts", map[string]any{"id": "acme"}, 409, "exists", ""},
		{"POST", "/api/v1/accounts", map[string]any{"id": "Not Valid"}, 422, "invalid", "id"},
	}
	for _, c := range cases {
		tok := adm
		if c.path == "/api/v1/accounts" {
			tok = operatorToken
		}
		code, out := b.do(t, c.method, c.path, tok, c.body)
		e, _ := out["error"].(map[string]any)
		if code != c.status || errCode(out) != c.code || (c.field != "" && e["field"] != c.field) || e["message"] == "" {
			t.Errorf("%s %s %.60v: got %d %v, want %d %s %s", c.method, c.path, c.body, code, out, c.status, c.code, c.field)
		}
	}
}

func TestJobLifecycleThroughAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	tok := toks["data_manager"]
	code, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "once"})
	if code != 201 || job["state"] != "running" || b.enq.count() != 1 {
		t.Fatalf("create: %d %v, %d tasks", code, job, b.enq.count())
	}
	id := job["id"].(string)
	code, sched := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "hourly", "schedule": "@hourly"})
	if code != 201 || b.enq.count() != 1 {
		t.Fatalf("a scheduled job must not run at creation: %d %v", code, sched)
	}
	if _, j := b.do(t, "POST", "/api/v1/accounts/acme/jobs/"+id+"/pause", tok, nil); j["state"] != "paused" {
		t.Fatalf("pause: %v", j)
	}
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/jobs/"+id+"/run", tok, nil); code != 409 || errCode(out) != "conflict" {
		t.Fatalf("run paused: %d %v", code, out)
	}
	if _, j := b.do(t, "POST", "/api/v1/accounts/acme/jobs/"+id+"/resume", tok, nil); j["state"] != "running" || b.enq.count() != 2 {
		t.Fatalf("resume: %v", j)
	}
	if code, _ := b.do(t, "POST", "/api/v1/accounts/acme/jobs/"+id+"/run", tok, nil); code != 200 || b.enq.count() != 3 {
		t.Fatalf("run: %d", code)
	}
	if _, j := b.do(t, "DELETE", "/api/v1/accounts/acme/jobs/"+id, tok, nil); j["state"] != "deleted" {
		t.Fatalf("delete: %v", j)
	}
	if _, j := b.do(t, "GET", "/api/v1/accounts/acme/jobs/"+id, tok, nil); j["state"] != "deleted" {
		t.Fatalf("deleted job must stay readable: %v", j)
	}
	_, list := b.do(t, "GET", "/api/v1/accounts/acme/jobs", tok, nil)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("list after delete: %d jobs", n)
	}
}

func TestSecretsNeverReturnedOrLogged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	const key = "rest-key-that-must-never-leak-1234"
	code, a := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", toks["admin"], map[string]any{"type": "braze", "label": "prod", "config": map[string]any{"instance": "US-02"}, "secrets": map[string]any{"api_key": key}})
	if code != 201 {
		t.Fatal(code, a)
	}
	id := a["id"].(string)
	for _, p := range []string{"/api/v1/accounts/acme/authorizations", "/api/v1/accounts/acme/authorizations/" + id} {
		_, out := b.do(t, "GET", p, toks["read"], nil)
		raw, _ := json.Marshal(out)
		if strings.Contains(string(raw), key) {
			t.Fatalf("%s returned the key", p)
		}
		if !strings.Contains(string(raw), `"api_key"`) {
			t.Fatalf("%s does not say the key is set: %s", p, raw)
		}
	}
	if strings.Contains(b.logs.String(), key) {
		t.Fatal("the key appears in the logs")
	}
	keys, _ := b.rdb.Keys(t.Context(), b.ns+":*").Result()
	for _, k := range keys {
		if typ, _ := b.rdb.Type(t.Context(), k).Result(); typ == "hash" {
			m, _ := b.rdb.HGetAll(t.Context(), k).Result()
			if strings.Contains(fmt.Sprint(m), key) {
				t.Fatalf("plaintext key in Redis at %s", k)
			}
		}
	}
}

func TestOperatorViews(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	get := func(path string, mk func(*http.Request)) int {
		req, _ := http.NewRequest("GET", b.http.URL+path, nil)
		if mk != nil {
			mk(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/healthz", nil); c != 200 {
		t.Errorf("healthz %d", c)
	}
	if c := get("/readyz", nil); c != 200 {
		t.Errorf("readyz %d", c)
	}
	if c := get("/monitoring/", nil); c != 401 {
		t.Errorf("monitoring without token: %d", c)
	}
	if c := get("/monitoring/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+toks["admin"]) }); c != 403 {
		t.Errorf("monitoring with an account token: %d", c)
	}
	if c := get("/monitoring/", func(r *http.Request) { r.SetBasicAuth("ops", operatorToken) }); c != 200 {
		t.Errorf("monitoring with basic auth: %d", c)
	}
	if c := get("/monitoring/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+operatorToken) }); c != 200 {
		t.Errorf("monitoring with bearer: %d", c)
	}
	// The monitor token (no admin scope) gets the read-only asynqmon, reads
	// accounts, and changes nothing.
	body := func(tok string) string {
		req, _ := http.NewRequest("GET", b.http.URL+"/monitoring/", nil)
		req.SetBasicAuth("ops", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	if got := body(monitorToken); got != "asynqmon read-only" {
		t.Errorf("monitor token got %q, want the read-only asynqmon", got)
	}
	if got := body(operatorToken); got != "asynqmon" {
		t.Errorf("operator token got %q, want the full asynqmon", got)
	}
	if code, _ := b.do(t, "GET", "/api/v1/accounts/acme/jobs", monitorToken, nil); code != 200 {
		t.Errorf("monitor token reading jobs: %d", code)
	}
	for _, c := range []struct{ method, path string }{{"POST", "/api/v1/accounts"}, {"GET", "/api/v1/accounts"}, {"POST", "/api/v1/accounts/acme/jobs"}} {
		if code, _ := b.do(t, c.method, c.path, monitorToken, map[string]any{"id": "x"}); code != 403 {
			t.Errorf("monitor token %s %s: %d, want 403", c.method, c.path, code)
		}
	}
}

// TestOpenAPICoversEveryRoute fails when a route is missing from the document.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	doc, err := openapiDoc()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	checkRoutes(t, b.srv.Router().Patterns(), d.Paths)
}

var methodRe = regexp.MustCompile(`^([A-Z]+) (.*)$`)

func checkRoutes(t *testing.T, patterns []string, paths map[string]map[string]any) {
	t.Helper()
	for _, p := range patterns {
		if Undocumented(p) {
			continue
		}
		method, path := "get", p
		if m := methodRe.FindStringSubmatch(p); m != nil {
			method, path = strings.ToLower(m[1]), m[2]
		}
		ops, ok := paths[path]
		if !ok {
			t.Errorf("route %q is missing from the OpenAPI document", p)
			continue
		}
		if _, ok := ops[method]; !ok {
			t.Errorf("route %q: method %s is missing from the OpenAPI document", p, method)
		}
	}
}
