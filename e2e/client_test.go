package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Resp is an HTTP answer.
type Resp struct {
	Status int
	Header http.Header
	Body   []byte
	req    string
}

// J decodes the body as a JSON object.
func (r *Resp) J(t *testing.T) J {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v\n%s", r.req, err, r.Body)
	}
	return J(v)
}

// Expect fails the test unless the status is want, and returns the JSON
// object of the body (nil when the body is empty).
func (r *Resp) Expect(t *testing.T, want int) J {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d\n%s", r.req, r.Status, want, r.Body)
	}
	if len(bytes.TrimSpace(r.Body)) == 0 {
		return nil
	}
	return r.J(t)
}

// ErrorCode is the stable code of a JSON error answer.
func (r *Resp) ErrorCode(t *testing.T) string {
	t.Helper()
	return r.J(t).Str("error.code")
}

// J is a decoded JSON object with dotted-path accessors ("last_run.counters.sent",
// "data.0.id").
type J map[string]any

// Get returns the value at path, or nil.
func (j J) Get(path string) any {
	var cur any = map[string]any(j)
	for _, part := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[part]
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// Str returns the string at path, or "".
func (j J) Str(path string) string {
	s, _ := j.Get(path).(string)
	return s
}

// Num returns the number at path, or 0.
func (j J) Num(path string) float64 {
	n, _ := j.Get(path).(float64)
	return n
}

// Arr returns the array at path, or nil.
func (j J) Arr(path string) []any {
	a, _ := j.Get(path).([]any)
	return a
}

// Obj returns the object at path, or nil.
func (j J) Obj(path string) J {
	o, _ := j.Get(path).(map[string]any)
	return J(o)
}

// Strings returns the array of strings at path.
func (j J) Strings(path string) []string {
	var out []string
	for _, v := range j.Arr(path) {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// Call sends a request to the API. body is nil, a string or []byte (sent
// as is), or anything else (sent as JSON). token goes in
// "Authorization: Bearer" unless it is "".
func (e *Env) Call(t *testing.T, method, path, token string, body any) *Resp {
	t.Helper()
	return call(t, method, e.API+path, token, body, nil)
}

func call(t *testing.T, method, u, token string, body any, header http.Header) *Resp {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	var ck *check
	if c := contractFor(t, u); c != nil {
		ck = c.begin(req, data)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	if ck != nil {
		if problem := ck.end(resp.StatusCode, resp.Header, out); problem != "" {
			t.Errorf("%s %s: %s\nrequest: %s\nanswer %d: %s", method, u, problem, tail(string(data), 2000), resp.StatusCode, tail(string(out), 2000))
		}
	}
	return &Resp{Status: resp.StatusCode, Header: resp.Header, Body: out, req: method + " " + u}
}

// Account is an account of its own for a scenario, with an admin token.
type Account struct {
	ID    string
	Token string
	e     *Env
}

// NewAccount creates an account with a random id and an admin token of it.
func (e *Env) NewAccount(t *testing.T) *Account {
	t.Helper()
	id := "acct-" + randomHex(5)
	e.Call(t, "POST", "/api/v1/accounts", e.Admin, map[string]any{"id": id, "name": "Scenario " + id}).Expect(t, 201)
	tok := e.Call(t, "POST", "/api/v1/accounts/"+id+"/tokens", e.Admin,
		map[string]any{"name": "scenario", "scopes": []string{"admin"}}).Expect(t, 201)
	a := &Account{ID: id, Token: tok.Str("token"), e: e}
	if a.Token == "" {
		t.Fatalf("no token in %v", tok)
	}
	return a
}

// Call sends a request to a path under /api/v1/accounts/{id} with the
// account's admin token.
func (a *Account) Call(t *testing.T, method, path string, body any) *Resp {
	t.Helper()
	return a.e.Call(t, method, "/api/v1/accounts/"+a.ID+path, a.Token, body)
}

// Token creates a token of the account with the given scopes.
func (a *Account) NewToken(t *testing.T, scopes ...string) string {
	t.Helper()
	return a.Call(t, "POST", "/tokens", map[string]any{"name": "scoped", "scopes": scopes}).Expect(t, 201).Str("token")
}

// Collect posts body to the collect endpoint of the account's stream.
func (a *Account) Collect(t *testing.T, stream string, body any) *Resp {
	t.Helper()
	return a.e.Call(t, "POST", "/c/"+a.ID+"/"+stream+"?key="+url.QueryEscape(a.Token), "", body)
}

// BrazeAuth creates a braze authorization pointing at the simulator with
// a random API key, and returns its id and the key.
func (a *Account) BrazeAuth(t *testing.T) (id, apiKey string) {
	t.Helper()
	apiKey = "key-" + randomHex(8)
	au := a.Call(t, "POST", "/authorizations", map[string]any{
		"type": "braze", "label": "simulator",
		"config":  map[string]any{"rest_endpoint": a.e.Sim},
		"secrets": map[string]any{"api_key": apiKey},
	}).Expect(t, 201)
	return au.Str("id"), apiKey
}

// Job returns the job.
func (a *Account) Job(t *testing.T, id string) J {
	t.Helper()
	return a.Call(t, "GET", "/jobs/"+id, nil).Expect(t, 200)
}

// SimUser returns the attributes the simulator holds for external_id, or
// nil when it holds no such user.
func (e *Env) SimUser(t *testing.T, externalID string) J {
	t.Helper()
	r := call(t, "GET", e.Sim+"/_sim/users/"+url.PathEscape(externalID), "", nil, nil)
	if r.Status == http.StatusNotFound {
		return nil
	}
	return r.Expect(t, 200)
}

// SimCounts returns the simulator's counters for one API key: requests,
// rate_limited, data_points, objects...
func (e *Env) SimCounts(t *testing.T, apiKey string) J {
	t.Helper()
	sum := sha256.Sum256([]byte(apiKey))
	st := call(t, "GET", e.Sim+"/_sim/stats", "", nil, nil).Expect(t, 200)
	c := st.Obj("keys.key_" + hex.EncodeToString(sum[:6]))
	if c == nil {
		return J{}
	}
	return c
}

// eventually polls cond until it holds or d passes; cond returns whether it
// holds and what it saw, for the failure message.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var seen string
	for {
		var ok bool
		ok, seen = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last seen: %s", d, what, seen)
		}
		time.Sleep(50 * time.Millisecond) // polling state the product offers no signal for
	}
}

// segments returns the lytics_segments the simulator holds for a user.
func segments(u J) []string {
	if u == nil {
		return nil
	}
	return u.Strings("lytics_segments")
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
