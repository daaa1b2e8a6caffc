package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

const (
	apiOperatorToken = "operator-token-api-0123456789"
	apiMonitorToken  = "monitor-token-api-0123456789"
)

// apiBundle is the HTTP API as `brazesync api` builds it from its
// environment, on a leased Redis database, served by httptest.
type apiBundle struct {
	app    *app
	routes []string
	srv    *httptest.Server
}

func setupAPI(t *testing.T) *apiBundle {
	t.Helper()
	_, url := redistest.DB(t)
	env := map[string]string{"REDIS_URL": url, "BRAZESYNC_MASTER_KEY": masterKey, "LOG_LEVEL": "error",
		"BRAZESYNC_ADMIN_TOKEN": apiOperatorToken, "BRAZESYNC_MONITOR_TOKEN": apiMonitorToken}
	cfg, err := load(func(k string) string { return env[k] }, config.Production)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger(cfg.LogLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	srv, closeMon, err := a.apiServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeMon)
	b := &apiBundle{app: a, routes: srv.Router().Patterns(), srv: httptest.NewServer(srv.Handler())}
	t.Cleanup(b.srv.Close)
	return b
}

// send sends a request with the bearer token tok (none if empty) and
// returns the status, the Content-Type and the body.
func (b *apiBundle) send(t *testing.T, method, path, tok string, body any) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		bb, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(bb)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw
}

// do is send for JSON answers: it fails the test on any other answer.
func (b *apiBundle) do(t *testing.T, method, path, tok string, body any) (int, map[string]any) {
	t.Helper()
	code, ctype, raw := b.send(t, method, path, tok, body)
	out := map[string]any{}
	if !strings.HasPrefix(ctype, "application/json") || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("%s %s: %d %s, not JSON: %q", method, path, code, ctype, raw)
	}
	return code, out
}

// account creates an account and returns a token of each scope.
func (b *apiBundle) account(t *testing.T, id string) map[string]string {
	t.Helper()
	if code, out := b.do(t, "POST", "/api/v1/accounts", apiOperatorToken, map[string]any{"id": id, "name": id}); code != 201 {
		t.Fatalf("create account: %d %v", code, out)
	}
	toks := map[string]string{}
	for _, scope := range []string{"read", "data_manager", "admin"} {
		code, out := b.do(t, "POST", "/api/v1/accounts/"+id+"/tokens", apiOperatorToken, map[string]any{"name": scope, "scopes": []string{scope}})
		if code != 201 {
			t.Fatalf("create %s token: %d %v", scope, code, out)
		}
		toks[scope] = out["token"].(string)
	}
	return toks
}

// importJob creates a csv_import job (and its sftp authorization) in account
// acme with an admin token and returns its id.
func (b *apiBundle) importJob(t *testing.T, admin string) string {
	t.Helper()
	code, au := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", admin, map[string]any{
		"type": "sftp", "label": "customer", "config": map[string]any{"host": "sftp.example.com", "username": "acme"},
		"secrets": map[string]string{"password": "a-password-0123"}})
	if code != 201 {
		t.Fatalf("create authorization: %d %v", code, au)
	}
	code, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", admin, map[string]any{
		"type": importjob.TypeName, "label": "users", "authorization_id": au["id"], "config": map[string]any{"pattern": "*.csv"}})
	if code != 201 {
		t.Fatalf("create job: %d %v", code, job)
	}
	return job["id"].(string)
}

func errorCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestImportFilesRoutesAreServed: the file ledger of a csv_import job is
// served by the API that `brazesync api` builds, with the scopes of the
// other job routes and JSON errors.
func TestImportFilesRoutesAreServed(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	toks := b.account(t, "acme")
	id := b.importJob(t, toks["admin"])
	ledger := csvimport.NewLedger(b.app.rdb, b.app.ns)
	v := csvimport.FileVersion{Path: "/users.csv", Size: 10, ModTime: time.Unix(1700000000, 0)}
	if err := ledger.Mark(context.Background(), csvimport.Job{Account: "acme", ID: id}, csvimport.Entry{FileVersion: v, State: csvimport.StateFailed, Error: "too many bad rows"}); err != nil {
		t.Fatal(err)
	}
	files := "/api/v1/accounts/acme/jobs/" + id + "/files"

	code, out := b.do(t, "GET", files, toks["read"], nil)
	if data, _ := out["data"].([]any); code != 200 || len(data) != 1 {
		t.Fatalf("GET files with a read token: %d %v", code, out)
	}
	if code, out := b.do(t, "GET", files, "", nil); code != 401 || errorCode(out) == "" {
		t.Errorf("GET files without a token: %d %v", code, out)
	}
	other := b.account(t, "other")
	if code, out := b.do(t, "GET", files, other["admin"], nil); code != 403 || errorCode(out) == "" {
		t.Errorf("GET files with another account's token: %d %v", code, out)
	}
	if code, out := b.do(t, "GET", "/api/v1/accounts/acme/jobs/no-such-job/files", toks["read"], nil); code != 404 || errorCode(out) != "not_found" {
		t.Errorf("GET files of an unknown job: %d %v", code, out)
	}
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/jobs/no-such-job/files/retry", toks["data_manager"], map[string]any{"path": "/users.csv"}); code != 404 || errorCode(out) != "not_found" {
		t.Errorf("retry on an unknown job: %d %v", code, out)
	}
	if code, out := b.do(t, "POST", files+"/retry", toks["read"], map[string]any{"path": "/users.csv"}); code != 403 || errorCode(out) == "" {
		t.Errorf("retry with a read token: %d %v", code, out)
	}
	if code, out := b.do(t, "POST", files+"/retry", toks["data_manager"], map[string]any{"path": "/users.csv"}); code != 200 || out["reset"] != 1.0 {
		t.Fatalf("retry: %d %v", code, out)
	}
	if code, out := b.do(t, "GET", files, toks["read"], nil); code != 200 || len(out["data"].([]any)) != 0 {
		t.Errorf("the retried entry is still listed: %d %v", code, out)
	}
}

// TestEveryDocumentedRouteIsServed holds the OpenAPI document against the
// API that `brazesync api` builds: every operation it describes is served.
func TestEveryDocumentedRouteIsServed(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	unserved, err := api.UnservedInOpenAPI(b.routes)
	if err != nil {
		t.Fatal(err)
	}
	if len(unserved) > 0 {
		t.Fatalf("operations of the OpenAPI document that no route serves: %v", unserved)
	}
}

// TestMonitorTokenFromTheEnvironment: BRAZESYNC_MONITOR_TOKEN reads every
// account, writes nothing, and opens asynqmon read-only.
func TestMonitorTokenFromTheEnvironment(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	toks := b.account(t, "acme")
	id := b.importJob(t, toks["admin"])
	if code, out := b.do(t, "GET", "/api/v1/accounts/acme/jobs", apiMonitorToken, nil); code != 200 || len(out["data"].([]any)) != 1 || out["data"].([]any)[0].(map[string]any)["id"] != id {
		t.Fatalf("monitor token reading the job list: %d %v", code, out)
	}
	if code, out := b.do(t, "GET", "/api/v1/accounts/acme", apiMonitorToken, nil); code != 200 || out["id"] != "acme" {
		t.Errorf("monitor token reading the account: %d %v", code, out)
	}
	writes := 0
	for _, p := range b.routes {
		method, path, _ := strings.Cut(p, " ")
		if method == "GET" || method == "HEAD" || !strings.HasPrefix(path, "/") {
			continue
		}
		writes++
		path = strings.NewReplacer("{account}", "acme", "{stream}", "braze_users").Replace(path)
		for strings.Contains(path, "{") {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			path = path[:i] + "x" + path[j+1:]
		}
		if code, out := b.do(t, method, path, apiMonitorToken, map[string]any{"id": "y", "name": "y"}); code != 403 || errorCode(out) != "forbidden" {
			t.Errorf("monitor token on %s %s: %d %v, want 403 forbidden", method, path, code, out)
		}
	}
	if writes < 20 {
		t.Fatalf("only %d write routes found", writes)
	}
	if code, out := b.do(t, "GET", "/api/v1/accounts/y", apiOperatorToken, nil); code != 404 {
		t.Errorf("the monitor token created an account: %d %v", code, out)
	}

	// asynqmon: the monitor token (as the basic-auth password a browser
	// sends) sees the UI and the queues, and cannot pause a queue; the
	// operator token can.
	mon := func(method, path, tok string) int {
		t.Helper()
		req, err := http.NewRequest(method, b.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("ops", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	paused := func() bool {
		t.Helper()
		n, err := b.app.rdb.Exists(context.Background(), "asynq:{default}:paused").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if c := mon("GET", "/monitoring/", apiMonitorToken); c != 200 {
		t.Errorf("GET /monitoring/ with the monitor token: %d", c)
	}
	if c := mon("GET", "/monitoring/api/queues", apiMonitorToken); c != 200 {
		t.Errorf("GET /monitoring/api/queues with the monitor token: %d", c)
	}
	if c := mon("POST", "/monitoring/api/queues/default:pause", apiMonitorToken); c != http.StatusMethodNotAllowed || paused() {
		t.Errorf("pausing a queue with the monitor token: %d (paused: %v), want 405", c, paused())
	}
	if c := mon("POST", "/monitoring/api/queues/default:pause", apiOperatorToken); c >= 300 || !paused() {
		t.Errorf("pausing a queue with the operator token: %d (paused: %v)", c, paused())
	}
}
