package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestNotifySettingsAreCheckedAtTheEdge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.account(t, "acme")["data_manager"]
	cases := []struct {
		notify any
		code   string
		field  string
	}{
		{map[string]any{"url": "http://hooks.example.com/x", "events": []string{"run_failed"}}, "invalid", "notify.url"},
		{map[string]any{"url": "https://u:p@hooks.example.com/x", "events": []string{"run_failed"}}, "invalid", "notify.url"},
		{map[string]any{"url": "https://hooks.example.com/x", "events": []string{"run_started"}}, "invalid", "notify.events"},
		{map[string]any{"url": "https://hooks.example.com/x", "events": []string{}}, "invalid", "notify.events"},
		{map[string]any{"url": "https://hooks.example.com/x", "events": []string{"run_failed"}, "secret": "mine"}, "invalid", "notify"},
		{"https://hooks.example.com/x", "invalid", "notify"},
		{map[string]any{"url": "https://127.0.0.1:8443/x", "events": []string{"run_failed"}}, "destination_forbidden", "notify.url"},
		{map[string]any{"url": "https://169.254.169.254/x", "events": []string{"run_failed"}}, "destination_forbidden", "notify.url"},
	}
	for _, c := range cases {
		code, out := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "n", "notify": c.notify})
		e, _ := out["error"].(map[string]any)
		if code != 422 || errCode(out) != c.code || e["field"] != c.field {
			t.Errorf("notify %v: %d %v, want 422 %s on %s", c.notify, code, out, c.code, c.field)
		}
	}
	_, list := b.do(t, "GET", "/api/v1/accounts/acme/jobs", tok, nil)
	if n := len(list["data"].([]any)); n != 0 {
		t.Fatalf("%d jobs created by refused requests", n)
	}
}

func TestTheNotifySecretIsShownOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	tok := toks["data_manager"]
	settings := map[string]any{"url": "https://hooks.example.com/brazesync", "events": []string{"run_failed", "run_completed"}}
	code, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", tok, map[string]any{"type": "noop", "label": "n", "notify": settings})
	n, _ := job["notify"].(map[string]any)
	secret, _ := n["secret"].(string)
	if code != 201 || !strings.HasPrefix(secret, "whsec_") || fmt.Sprint(n["events"]) != "[run_completed run_failed]" {
		t.Fatalf("create: %d %v", code, job)
	}
	id := job["id"].(string)
	path := "/api/v1/accounts/acme/jobs/" + id
	noSecret := func(what string, out map[string]any) {
		t.Helper()
		raw, _ := json.Marshal(out)
		if strings.Contains(string(raw), secret) || strings.Contains(string(raw), `"secret"`) || strings.Contains(string(raw), "v1.") {
			t.Fatalf("%s shows the secret: %s", what, raw)
		}
	}
	_, got := b.do(t, "GET", path, toks["read"], nil)
	noSecret("GET", got)
	if n, _ := got["notify"].(map[string]any); n["url"] != "https://hooks.example.com/brazesync" {
		t.Fatalf("GET does not show the notify settings: %v", got)
	}
	_, list := b.do(t, "GET", "/api/v1/accounts/acme/jobs", toks["read"], nil)
	noSecret("the list", list)

	// A PATCH of the events keeps the secret and shows none.
	settings["events"] = []string{"health_changed"}
	code, patched := b.do(t, "PATCH", path, tok, map[string]any{"notify": settings})
	noSecret("PATCH keeping the secret", patched)
	if code != 200 || fmt.Sprint(patched["notify"].(map[string]any)["events"]) != "[health_changed]" {
		t.Fatalf("patch: %d %v", code, patched)
	}
	// rotate_secret gives a new one, shown once.
	settings["rotate_secret"] = true
	_, rotated := b.do(t, "PATCH", path, tok, map[string]any{"notify": settings})
	s2, _ := rotated["notify"].(map[string]any)["secret"].(string)
	if !strings.HasPrefix(s2, "whsec_") || s2 == secret {
		t.Fatalf("rotate: %v", rotated)
	}
	_, got = b.do(t, "GET", path, toks["read"], nil)
	if raw, _ := json.Marshal(got); strings.Contains(string(raw), s2) {
		t.Fatal("GET shows the rotated secret")
	}
	// null removes the settings.
	if code, out := b.do(t, "PATCH", path, tok, map[string]any{"notify": nil}); code != 200 || out["notify"] != nil {
		t.Fatalf("remove: %d %v", code, out)
	}
	for _, s := range []string{secret, s2} {
		if strings.Contains(b.logs.String(), s) {
			t.Fatal("a notify secret appears in the logs")
		}
	}
	keys, _ := b.rdb.Keys(t.Context(), b.ns+":*").Result()
	for _, k := range keys {
		if typ, _ := b.rdb.Type(t.Context(), k).Result(); typ == "hash" {
			m, _ := b.rdb.HGetAll(t.Context(), k).Result()
			if strings.Contains(fmt.Sprint(m), s2) || strings.Contains(fmt.Sprint(m), secret) {
				t.Fatalf("plaintext notify secret in Redis at %s", k)
			}
		}
	}
}
