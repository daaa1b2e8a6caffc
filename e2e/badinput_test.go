package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBooleanQueryValuesAreChecked: a boolean query parameter takes true
// or false (1 or 0); any other value is refused naming the parameter, so
// that ?dryrun=yes never writes data.
func TestBooleanQueryValuesAreChecked(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		collect := "/c/" + a.ID + "/braze_users?key=" + url.QueryEscape(a.Token)
		r := e.Call(t, "POST", collect+"&dryrun=yes", "", map[string]any{"email": "yes@example.com"})
		if msg := r.J(t).Str("message"); r.Status != 400 || !strings.Contains(msg, "dryrun") || !strings.Contains(msg, `"yes"`) {
			t.Errorf("dryrun=yes: %d %s, want 400 naming dryrun", r.Status, r.Body)
		}
		if r := e.Call(t, "POST", collect+"&dryrun=TRUE", "", map[string]any{"email": "upper@example.com"}); r.Status != 200 || r.J(t).Get("data.dryrun") != true {
			t.Errorf("dryrun=TRUE: %d %s, want a dry run", r.Status, r.Body)
		}
		e.Call(t, "POST", collect, "", map[string]any{"email": "marker@example.com"}).Expect(t, 200)
		eventually(t, 10*time.Second, "the marker profile", func() (bool, string) {
			r := a.Call(t, "GET", "/profiles/email/marker@example.com", nil)
			return r.Status == 200, string(r.Body)
		})
		for _, email := range []string{"yes@example.com", "upper@example.com"} {
			if r := a.Call(t, "GET", "/profiles/email/"+email, nil); r.Status != 404 {
				t.Errorf("%s was written: %d %s", email, r.Status, r.Body)
			}
		}

		for _, c := range []struct{ path, param string }{
			{"/jobs?deleted=yes", "deleted"},
			{"/jobs?deleted", "deleted"},
		} {
			r := a.Call(t, "GET", c.path, nil)
			if r.Status != 422 || r.ErrorCode(t) != "invalid" || r.J(t).Str("error.field") != c.param {
				t.Errorf("GET %s: %d %s, want 422 invalid on %s", c.path, r.Status, r.Body, c.param)
			}
		}
		a.Call(t, "GET", "/jobs?deleted=1", nil).Expect(t, 200)
		auth, _ := a.BrazeAuth(t)
		r = a.Call(t, "POST", "/authorizations/"+auth+"/test?pin=on", nil)
		if r.Status != 422 || r.ErrorCode(t) != "invalid" || r.J(t).Str("error.field") != "pin" {
			t.Errorf("test?pin=on: %d %s, want 422 invalid on pin", r.Status, r.Body)
		}
	})
}

// TestErrorsSpeakTheAPIsTerms: a value of the wrong kind is a 422 invalid
// naming its field as the body writes it and saying what it takes, in
// JSON's terms, never a Go type or a Go time layout.
func TestErrorsSpeakTheAPIsTerms(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		a.Call(t, "POST", "/audiences", map[string]any{"slug": "vip", "name": "VIP", "kind": "list"}).Expect(t, 201)
		for _, c := range []struct {
			path, body, field string
			says              []string
		}{
			{"/jobs", `[]`, "", []string{"the body must be a JSON object"}},
			{"/audiences/vip/members", `{"add":["a@example.com"]}`, "add[0]", []string{"add[0]", `{"email"`}},
			{"/tokens", `{"name":"t","scopes":["read"],"expires_at":"tomorrow"}`, "expires_at", []string{"RFC 3339"}},
		} {
			r := a.Call(t, "POST", c.path, c.body)
			j := r.J(t)
			msg := j.Str("error.message")
			if r.Status != 422 || r.ErrorCode(t) != "invalid" || j.Str("error.field") != c.field {
				t.Errorf("POST %s %s: %d %s, want 422 invalid on %q", c.path, c.body, r.Status, r.Body, c.field)
				continue
			}
			for _, w := range c.says {
				if !strings.Contains(msg, w) {
					t.Errorf("POST %s %s: message %q does not say %q", c.path, c.body, msg, w)
				}
			}
			for _, g := range []string{"api.", "audiences.", "2006", "json:"} {
				if strings.Contains(msg, g) {
					t.Errorf("POST %s %s: message %q shows Go's %q", c.path, c.body, msg, g)
				}
			}
		}
	})
}

// TestMessagesSayWhatIsWrong: each refusal says what is wrong and what is
// expected: a list given as a string, a missing id, JSON cut short, a
// notify URL this server cannot use, an account that exists, a mistyped
// config key of `brazesync ctl`.
func TestMessagesSayWhatIsWrong(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		auth, _ := a.BrazeAuth(t)
		says := func(what string, r *Resp, status int, field string, words ...string) {
			t.Helper()
			msg := r.J(t).Str("error.message")
			if msg == "" {
				msg = r.J(t).Str("message") // the collect endpoint's shape
			}
			if r.Status != status || r.J(t).Str("error.field") != field {
				t.Errorf("%s: %d %s, want %d on %q", what, r.Status, r.Body, status, field)
				return
			}
			for _, w := range words {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: message %q does not say %q", what, msg, w)
				}
			}
		}
		says("audiences as a string", a.Call(t, "POST", "/jobs", map[string]any{"type": "braze_export_audience", "label": "x", "authorization_id": auth,
			"config": map[string]any{"audiences": "lytics_all"}}), 422, "config.audiences", "must be a list of audience slugs")
		says("an account without id", e.Call(t, "POST", "/api/v1/accounts", e.Admin, map[string]any{"name": "No id"}), 422, "id", "is required")
		says("an account that exists", e.Call(t, "POST", "/api/v1/accounts", e.Admin, map[string]any{"id": a.ID}), 409, "", `account "`+a.ID+`" already exists`)
		says("collect cut short", e.Call(t, "POST", "/c/"+a.ID+"/braze_users?key="+url.QueryEscape(a.Token), "", `{"email":"a@example.com"`), 400, "", "the body ends before the JSON does")
		says("profiles cut short", a.Call(t, "POST", "/profiles", `[{"email":"a@example.com"}`), 400, "", "the body ends before the JSON does")
		says("an ftp notify URL", a.Call(t, "POST", "/jobs", map[string]any{"type": "braze_export_audience", "label": "x", "authorization_id": auth,
			"config": map[string]any{"audiences": []string{"lytics_all"}}, "notify": map[string]any{"url": "ftp://127.0.0.1/hook", "events": []string{"run_completed"}}}),
			422, "notify.url", "https or http")

		sh := &ctlShell{e: e, token: e.Admin, account: a.ID, dir: t.TempDir()}
		if r := sh.expect(t, 4, "accounts", "create", a.ID); !strings.Contains(r.stderr, `account "`+a.ID+`" already exists`) {
			t.Errorf("ctl accounts create of an existing account: %s", r.stderr)
		}
		if r := sh.expect(t, 2, "auth", "create", "--type", "braze", "--config", "instanse=US-01", "--secret", "api_key=k"); !strings.Contains(r.stderr, `unknown key "instanse" (known keys: instance, rest_endpoint`) {
			t.Errorf("ctl auth create --config instanse=: %s", r.stderr)
		}
		if err := os.WriteFile(filepath.Join(sh.dir, "auth.json"), []byte(`{"type":"sftp","config":{"host":"sftp.example.com","port":"twenty-two"}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := sh.expect(t, 2, "auth", "create", "--file", "auth.json"); !strings.Contains(r.stderr, "config.port must be a whole number, not a string") {
			t.Errorf("ctl auth create --file with a port as a string: %s", r.stderr)
		}
	})
}

// noRedirects answers a redirect as it is.
var noRedirects = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestAPIPathsAnswerJSON: a path under /api/ with an empty segment (an id
// left out) or that no route takes is a JSON 404 not_found, not a
// redirect with an HTML body or a text page.
func TestAPIPathsAnswerJSON(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		for _, p := range []string{
			"/api/v1/accounts/" + a.ID + "/jobs/job_x/runs//rejected",
			"/api/v1/accounts/" + a.ID + "/nothing",
			"/c//braze_users",
		} {
			req, _ := http.NewRequest("GET", e.API+p, nil)
			req.Header.Set("Authorization", "Bearer "+a.Token)
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out J
			_ = json.Unmarshal(body, &out)
			if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" || out.Str("error.code") != "not_found" {
				t.Errorf("GET %s: %d %s %s, want a JSON 404 not_found", p, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
		// The collect endpoint answers an account that does not exist in the
		// API's error shape, as docs/api.md says.
		r := e.Call(t, "POST", "/c/nobody-"+randomHex(4)+"/braze_users", e.Admin, map[string]any{"email": "ann@example.com"})
		if r.Status != 404 || r.ErrorCode(t) != "not_found" {
			t.Errorf("collect into an account that does not exist: %d %s, want 404 {\"error\": {\"code\": \"not_found\"}}", r.Status, r.Body)
		}
		// A method a path does not take is a JSON 405 that names the
		// methods it takes, in Allow too; so is one that a literal path
		// refuses (.../jobs/preview is no job).
		for _, p := range []string{"/jobs", "/jobs/preview"} {
			r := a.Call(t, "DELETE", p, nil)
			if r.Status != 405 || r.ErrorCode(t) != "method_not_allowed" || r.Header.Get("Allow") == "" {
				t.Errorf("DELETE %s: %d Allow %q %s, want a JSON 405 method_not_allowed", p, r.Status, r.Header.Get("Allow"), r.Body)
			}
		}
	})
}

// TestTooLargeBodiesWithExpectContinue: a body whose Content-Length is over
// the limit, sent the way curl sends large bodies (Expect: 100-continue),
// is answered 413 before it is sent, not with a connection reset.
func TestTooLargeBodiesWithExpectContinue(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		u, err := url.Parse(e.API)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ path, says string }{
			{"/api/v1/accounts/" + a.ID + "/jobs", `"code":"too_large"`},
			{"/c/" + a.ID + "/braze_users", `"status":413`},
		} {
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", c.path, u.Host, a.Token, 11<<20)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("POST %s: %v", c.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			conn.Close()
			if resp.StatusCode != 413 || !strings.Contains(string(body), c.says) {
				t.Errorf("POST %s of 11 MB with Expect: 100-continue: %s %s, want 413 before the body is sent", c.path, resp.Status, body)
			}
		}
	})
}
