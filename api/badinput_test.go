package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/profiles"
)

// badInput is a client mistake and the error it must get: its status, code,
// field, and words the message must hold.
type badInput struct {
	method, path string
	body         any
	status       int
	code, field  string
	says         []string
}

// goTerms are what an error message must not show a client: Go's type
// names, time layouts and decoder prefixes.
var goTerms = []string{"api.", "audiences.", "accounts.", "jobs.", "map[", "[]", "2006", "json:", "time.Time", "struct", "int64", "float64"}

func (b *bundle) checkBadInput(t *testing.T, tok string, cases []badInput) {
	t.Helper()
	for _, c := range cases {
		code, out := b.do(t, c.method, c.path, tok, c.body)
		e, _ := out["error"].(map[string]any)
		msg, _ := e["message"].(string)
		field, _ := e["field"].(string)
		if code != c.status || errCode(out) != c.code || field != c.field || msg == "" {
			t.Errorf("%s %s %.60v: got %d %v, want %d %s field %q", c.method, c.path, c.body, code, out, c.status, c.code, c.field)
			continue
		}
		for _, w := range c.says {
			if !strings.Contains(msg, w) {
				t.Errorf("%s %s %.60v: message %q does not say %q", c.method, c.path, c.body, msg, w)
			}
		}
		for _, g := range goTerms {
			if strings.Contains(msg, g) {
				t.Errorf("%s %s %.60v: message %q shows Go's %q", c.method, c.path, c.body, msg, g)
			}
		}
	}
}

func TestBooleanQueryParametersRefuseUnknownValues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	b.checkBadInput(t, toks["admin"], []badInput{
		{"GET", "/api/v1/accounts/acme/jobs?deleted=yes", nil, 422, "invalid", "deleted", []string{"deleted", `"yes"`, "true or false"}},
		{"GET", "/api/v1/accounts/acme/jobs?deleted", nil, 422, "invalid", "deleted", []string{"true or false"}},
		{"POST", "/api/v1/accounts/acme/authorizations/au_nope/test?pin=on", nil, 422, "invalid", "pin", []string{"pin", `"on"`}},
	})
	for _, q := range []string{"", "?deleted=true", "?deleted=1", "?deleted=FALSE"} {
		if code, out := b.do(t, "GET", "/api/v1/accounts/acme/jobs"+q, toks["admin"], nil); code != 200 {
			t.Errorf("jobs%s: %d %v", q, code, out)
		}
	}
}

func TestCollectRefusesAnUnknownDryrunValue(t *testing.T) {
	t.Parallel()
	b := setupData(t)
	key := "?key=" + b.toks["data_manager"]
	code, out, _ := b.raw(t, "POST", "/c/acme/braze_users"+key+"&dryrun=yes", "application/json", `{"email":"yes@x.io"}`, nil)
	if msg, _ := out["message"].(string); code != 400 || out["status"] != 400.0 || !strings.Contains(msg, "dryrun") || !strings.Contains(msg, `"yes"`) {
		t.Errorf("dryrun=yes: %d %v, want 400 naming dryrun", code, out)
	}
	code, out, _ = b.raw(t, "POST", "/c/acme/braze_users"+key+"&dryrun=TRUE", "application/json", `{"email":"upper@x.io"}`, nil)
	if data, _ := out["data"].(map[string]any); code != 200 || data["dryrun"] != true {
		t.Errorf("dryrun=TRUE: %d %v, want a dry run", code, out)
	}
	// A stored record would be applied by now: the marker shows the
	// processor has caught up.
	if code, out, _ := b.raw(t, "POST", "/c/acme/braze_users"+key, "application/json", `{"email":"marker@x.io"}`, nil); code != 200 {
		t.Fatalf("marker: %d %v", code, out)
	}
	b.waitProfile(t, "email", "marker@x.io")
	for _, email := range []string{"yes@x.io", "upper@x.io"} {
		if _, err := b.profiles.Lookup(context.Background(), "acme", "email", email); !errors.Is(err, profiles.ErrNotFound) {
			t.Errorf("%s was written: %v", email, err)
		}
	}
}

func TestJSONValuesOfTheWrongKindAreNamedInTheAPIsTerms(t *testing.T) {
	t.Parallel()
	b, toks := setupAudiences(t)
	if code, out := b.do(t, "POST", "/api/v1/accounts/shop/audiences", toks["admin"], map[string]any{"slug": "vip", "name": "VIP", "kind": "list"}); code != 201 {
		t.Fatalf("create a list: %d %v", code, out)
	}
	b.checkBadInput(t, toks["admin"], []badInput{
		{"POST", "/api/v1/accounts/shop/jobs", "[]", 422, "invalid", "", []string{"the body must be a JSON object, not a list"}},
		{"POST", "/api/v1/accounts/shop/jobs", `"noop"`, 422, "invalid", "", []string{"the body must be a JSON object, not a string"}},
		{"POST", "/api/v1/accounts/shop/jobs", `{"type":"noop","config":"x"}`, 422, "invalid", "config", []string{"config: must be a JSON object, not a string"}},
		{"POST", "/api/v1/accounts/shop/jobs", `{"type":"noop","label":["x"]}`, 422, "invalid", "label", []string{"label: must be a string, not a list"}},
		{"POST", "/api/v1/accounts/shop/audiences/vip/members", `{"add":["a@example.com"]}`, 422, "invalid", "add[0]", []string{`add[0]: must be an object like {"email"`, "not a string"}},
		{"POST", "/api/v1/accounts/shop/audiences/vip/members", `{"add":[{"email":"a@example.com"}],"remove":[{"email":"b@example.com"},{"email":7}]}`, 422, "invalid", "remove[1].email", []string{"must be a string, not 7"}},
		{"POST", "/api/v1/accounts/shop/audiences/vip/members", `{"add":"a@example.com"}`, 422, "invalid", "add", []string{"must be a list"}},
		{"POST", "/api/v1/accounts/shop/tokens", `{"name":"t","scopes":"admin"}`, 422, "invalid", "scopes", []string{"must be a list of strings, not a string"}},
		{"POST", "/api/v1/accounts/shop/authorizations", `{"type":"braze","secrets":{"api_key":5}}`, 422, "invalid", "secrets.api_key", []string{"must be a string"}},
	})
}

func TestTimestampsMustBeRFC3339(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	b.checkBadInput(t, toks["admin"], []badInput{
		{"POST", "/api/v1/accounts/acme/tokens", `{"name":"t","scopes":["read"],"expires_at":"tomorrow"}`, 422, "invalid", "expires_at", []string{"RFC 3339 timestamp", `not "tomorrow"`}},
		{"POST", "/api/v1/accounts/acme/tokens", `{"name":"t","scopes":["read"],"expires_at":"2030-01-02"}`, 422, "invalid", "expires_at", []string{"RFC 3339 timestamp"}},
		{"POST", "/api/v1/accounts/acme/tokens", `{"name":"t","scopes":["read"],"expires_at":1767225600}`, 422, "invalid", "expires_at", []string{"RFC 3339 timestamp", "not 1767225600"}},
	})
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/tokens", toks["admin"], `{"name":"t","scopes":["read"],"expires_at":"2030-01-02T03:04:05Z"}`); code != 201 {
		t.Errorf("an RFC 3339 expires_at: %d %v", code, out)
	}
}

func TestMalformedJSONSaysWhere(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	b.checkBadInput(t, toks["admin"], []badInput{
		{"POST", "/api/v1/accounts/acme/jobs", `{"type":"noop","label":"x`, 400, "malformed", "", []string{"ends before the JSON does"}},
		{"POST", "/api/v1/accounts/acme/jobs", `{"type":"noop" "label":"x"}`, 400, "malformed", "", []string{"after byte 16"}},
	})
}

func TestAccountErrorsSayWhatIsWrong(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.account(t, "acme")
	b.checkBadInput(t, operatorToken, []badInput{
		{"POST", "/api/v1/accounts", `{"name":"No id"}`, 422, "invalid", "id", []string{"id: is required"}},
		{"POST", "/api/v1/accounts", `{"id":"acme"}`, 409, "exists", "", []string{`account "acme" already exists`}},
	})
}

// refusedPreview refuses DELETE on the literal path .../jobs/preview, as
// the export inspection routes do.
type refusedPreview struct{}

func (refusedPreview) Routes(r *Router) {
	r.Refuse("/api/v1/accounts/{account}/jobs/preview", http.MethodPost, http.MethodDelete)
}

func TestAPIPathsAnswerJSONNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, refusedPreview{})
	toks := b.account(t, "acme")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{
		"/api/v1/accounts/acme/jobs/job_x/runs//rejected",
		"/api/v1/accounts//jobs",
		"/api/v1/accounts/acme/jobs/../tokens",
		"/api/v1/accounts/acme/nothing",
		"/api/v2/accounts",
		"/c//braze_users",
	} {
		req, _ := http.NewRequest("GET", b.http.URL+p, nil)
		req.URL.Opaque = "//" + req.URL.Host + p // as sent, not cleaned
		req.Header.Set("Authorization", "Bearer "+toks["admin"])
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" || errCode(out) != "not_found" {
			t.Errorf("GET %s: %d %s %s, want a JSON 404 not_found", p, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	// A method a path does not take is a JSON 405 method_not_allowed with
	// Allow, from the mux and from a refused literal path alike.
	for _, p := range []string{"/api/v1/accounts/acme/jobs", "/api/v1/accounts/acme/jobs/preview"} {
		req, err := http.NewRequest("DELETE", b.http.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+toks["admin"])
		resp, err := b.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 405 || errCode(out) != "method_not_allowed" || resp.Header.Get("Allow") == "" {
			t.Errorf("DELETE %s: %d Allow %q %s, want a JSON 405 method_not_allowed with Allow", p, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
}

// expectContinue sends the head of a POST of size bytes with "Expect:
// 100-continue", as curl does for large bodies, and returns the first
// answer's status line and its body, without sending the body.
func expectContinue(t *testing.T, b *bundle, path, tok string, size int) (string, string) {
	t.Helper()
	conn, err := net.Dial("tcp", b.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", path, tok, size)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.Status, string(body)
}

func TestTooLargeBodiesAreRefusedBeforeTheyAreSent(t *testing.T) {
	t.Parallel()
	b := setupData(t)
	for _, c := range []struct {
		path, tok string
		size      int
		says      string
	}{
		{"/api/v1/accounts/acme/jobs", b.toks["admin"], 11 << 20, `"too_large"`},
		{"/api/v1/accounts/acme/profiles", b.toks["admin"], 11 << 20, `"too_large"`},
		{"/c/acme/braze_users", b.toks["data_manager"], 11 << 20, `"status":413`},
	} {
		status, body := expectContinue(t, b.bundle, c.path, c.tok, c.size)
		if status != "413 Request Entity Too Large" || !strings.Contains(body, c.says) {
			t.Errorf("POST %s of %d bytes with Expect: 100-continue: %s %s, want 413 before the body is sent", c.path, c.size, status, body)
		}
	}
}
