package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/ingest"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// accountsLater is an AccountChecker whose store is set after setup made it.
type accountsLater struct{ s *accounts.Store }

func (a *accountsLater) Exists(ctx context.Context, id string) (bool, error) {
	return a.s.Exists(ctx, id)
}

// fakeAudiences names fixed audiences for every profile.
type fakeAudiences struct{ list []string }

func (f fakeAudiences) ProfileAudiences(context.Context, string, string) ([]string, error) {
	return f.list, nil
}

type dataBundle struct {
	*bundle
	profiles  *profiles.Store
	collector *ingest.Collector
	toks      map[string]string
	other     map[string]string
}

// setupData starts the API with the collect and profiles route groups, a
// processor, and accounts "acme" and "other" with a token of each scope.
func setupData(t *testing.T) *dataBundle {
	t.Helper()
	rdb, ns := redistest.Client(t)
	st := profiles.New(rdb, ns, nil, profiles.Options{})
	col := ingest.NewCollector(rdb, ns, st, ingest.CollectorOptions{})
	later := &accountsLater{}
	b := setup(t,
		CollectRoutes{Collector: col, Accounts: later},
		ProfilesRoutes{Profiles: st, Collector: col, Accounts: later, Audiences: fakeAudiences{list: []string{"all", "vip"}}},
	)
	later.s = b.accounts
	proc := ingest.NewProcessor(rdb, ns, st, ingest.ProcessorOptions{Consumer: "api-test-" + redistest.RandomID(), PollInterval: 5 * time.Millisecond})
	if err := proc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	return &dataBundle{bundle: b, profiles: st, collector: col, toks: b.account(t, "acme"), other: b.account(t, "other")}
}

// raw sends body with the given content type and auth, and decodes the answer.
func (b *dataBundle) raw(t *testing.T, method, path, contentType, body string, auth func(*http.Request)) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, b.http.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out, resp.Header
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// waitProfile polls the profiles API until the profile exists.
func (b *dataBundle) waitProfile(t *testing.T, field, value string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, out := b.do(t, "GET", "/api/v1/accounts/acme/profiles/"+field+"/"+value, b.toks["read"], nil)
		if code == 200 {
			return out
		}
		if code != 404 || time.Now().After(deadline) {
			t.Fatalf("profile %s=%s: %d %v", field, value, code, out)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

func TestCollectTokenFormsAndScopes(t *testing.T) {
	t.Parallel()
	b := setupData(t)
	body := `{"email":"tok@x.io","braze_id":"b-1"}`
	cases := []struct {
		name string
		path string
		auth func(*http.Request)
		want int
	}{
		{"?key= data_manager", "/c/acme/braze_users?key=" + b.toks["data_manager"], nil, 200},
		{"?access_token= admin", "/c/acme/braze_users?access_token=" + b.toks["admin"], nil, 200},
		{"Bearer", "/c/acme/braze_users", bearer(b.toks["data_manager"]), 200},
		{"bare Authorization", "/c/acme/braze_users", func(r *http.Request) { r.Header.Set("Authorization", b.toks["data_manager"]) }, 200},
		{"read scope", "/c/acme/braze_users?key=" + b.toks["read"], nil, 403},
		{"other account", "/c/acme/braze_users?key=" + b.other["data_manager"], nil, 403},
		{"expired", "/c/acme/braze_users?key=" + b.toks["expired"], nil, 401},
		{"no token", "/c/acme/braze_users", nil, 401},
		{"operator, unknown account", "/c/ghost/braze_users", bearer(operatorToken), 404},
		{"own account", "/collect/json/braze_users?key=" + b.toks["data_manager"], nil, 200},
		{"own account, operator", "/collect/json/braze_users", bearer(operatorToken), 400},
	}
	for _, c := range cases {
		code, out, _ := b.raw(t, "POST", c.path, "application/json", body, c.auth)
		if code != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, code, out, c.want)
			continue
		}
		if code == 200 {
			data, _ := out["data"].(map[string]any)
			if out["status"] != 200.0 || out["message"] != "success" || data["message_count"] != 1.0 || data["rejected_count"] != 0.0 {
				t.Errorf("%s: answer %v, want Lytics-style counts", c.name, out)
			}
		}
	}
	p := b.waitProfile(t, "email", "tok@x.io")
	if ids, _ := p["identities"].(map[string]any); ids["braze_id"] == nil {
		t.Errorf("profile %v lacks the braze_id identity", p)
	}
}

func TestCollectThroughAPIBadInput(t *testing.T) {
	t.Parallel()
	b := setupData(t)
	key := "?key=" + b.toks["data_manager"]
	code, out, _ := b.raw(t, "POST", "/c/acme/braze_users"+key, "application/json", `[{"email":"a@x.io"},`, nil)
	if code != 400 || out["status"] != 400.0 {
		t.Errorf("malformed JSON: %d %v", code, out)
	}
	code, out, _ = b.raw(t, "POST", "/c/acme/braze_users"+key, "application/json", `{"email":"x@x.io","pad":"`+strings.Repeat("p", 10<<20)+`"}`, nil)
	if code != 413 {
		t.Errorf("11 MB body: %d %v", code, out)
	}
	code, out, _ = b.raw(t, "POST", "/c/acme/braze_users"+key, "application/json", `[{"city":"x"},{"email":"ok@x.io","session_count":"lots"},{"email":"fine@x.io"}]`, nil)
	data, _ := out["data"].(map[string]any)
	if code != 200 || data["message_count"] != 1.0 || data["rejected_count"] != 2.0 {
		t.Fatalf("rejections: %d %v", code, out)
	}
	rej, _ := data["rejected"].([]any)
	if len(rej) != 2 || !strings.Contains(rej[0].(map[string]any)["reason"].(string), "identity") {
		t.Errorf("rejected = %v, want reasons", rej)
	}
	b.waitProfile(t, "email", "fine@x.io")
	code, out = b.do(t, "GET", "/api/v1/accounts/acme/streams/braze_users/log", b.toks["read"], nil)
	if list, _ := out["data"].([]any); code != 200 || len(list) != 2 {
		t.Errorf("stream log: %d %v, want the 2 rejections", code, out)
	}
	for _, limit := range []string{"0", "1001", "ten"} {
		code, out = b.do(t, "GET", "/api/v1/accounts/acme/streams/braze_users/log?limit="+limit, b.toks["read"], nil)
		if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != "limit" {
			t.Errorf("stream log ?limit=%s: %d %v, want 422 on limit", limit, code, out)
		}
	}
	code, out, _ = b.raw(t, "POST", "/c/acme/braze_users"+key+"&dryrun=true", "application/x-www-form-urlencoded", "email=dry%40x.io", nil)
	if data, _ := out["data"].(map[string]any); code != 200 || data["dryrun"] != true || data["message_count"] != 1.0 {
		t.Errorf("dry run: %d %v", code, out)
	}
	if _, err := b.profiles.Lookup(context.Background(), "acme", "email", "dry@x.io"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("dry run wrote a profile: %v", err)
	}
}

func TestDataRoutesInOpenAPI(t *testing.T) {
	t.Parallel()
	b := setupData(t)
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
