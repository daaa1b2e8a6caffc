package api

import (
	"strings"
	"testing"
)

// TestFreeTextLimitsThroughAPI: labels, names and descriptions of jobs,
// authorizations, tokens, accounts and audiences with NUL or other control
// characters, invalid UTF-8 or over their length are 422 on their field.
func TestFreeTextLimitsThroughAPI(t *testing.T) {
	t.Parallel()
	b, toks := setupAudiences(t)
	dm, admin := toks["data_manager"], toks["admin"]
	brazeAuth := map[string]any{"type": "braze", "config": map[string]any{"instance": "US-01"}, "secrets": map[string]string{"api_key": "k-0123456789"}}
	with := func(base map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for kk, vv := range base {
			out[kk] = vv
		}
		out[k] = v
		return out
	}
	cases := []struct {
		name, path, tok string
		body            map[string]any
		field           string
	}{
		{"job label NUL", "/api/v1/accounts/shop/jobs", dm, map[string]any{"type": "noop", "label": "a\x00b"}, "label"},
		{"job label newline", "/api/v1/accounts/shop/jobs", dm, map[string]any{"type": "noop", "label": "a\nb"}, "label"},
		{"job label 257 bytes", "/api/v1/accounts/shop/jobs", dm, map[string]any{"type": "noop", "label": strings.Repeat("x", 257)}, "label"},
		{"job description escape", "/api/v1/accounts/shop/jobs", dm, map[string]any{"type": "noop", "label": "x", "description": "\x1b[2J"}, "description"},
		{"job description 4097 bytes", "/api/v1/accounts/shop/jobs", dm, map[string]any{"type": "noop", "label": "x", "description": strings.Repeat("x", 4097)}, "description"},
		{"authorization label NUL", "/api/v1/accounts/shop/authorizations", admin, with(brazeAuth, "label", "\x00"), "label"},
		{"authorization description C1", "/api/v1/accounts/shop/authorizations", admin, with(with(brazeAuth, "label", "ok"), "description", "a\u0085b"), "description"},
		{"token name NUL", "/api/v1/accounts/shop/tokens", admin, map[string]any{"name": "t\x00", "scopes": []string{"read"}}, "name"},
		{"token description 4097 bytes", "/api/v1/accounts/shop/tokens", admin, map[string]any{"name": "t", "description": strings.Repeat("é", 2049), "scopes": []string{"read"}}, "description"},
		{"account name NUL", "/api/v1/accounts", operatorToken, map[string]any{"id": "other", "name": "o\x00"}, "name"},
		{"audience name NUL", "/api/v1/accounts/shop/audiences", dm, map[string]any{"slug": "a1", "name": "a\x00", "kind": "list"}, "name"},
		{"audience name 257 bytes", "/api/v1/accounts/shop/audiences", dm, map[string]any{"slug": "a2", "name": strings.Repeat("n", 257), "kind": "list"}, "name"},
		{"audience rule depth", "/api/v1/accounts/shop/audiences", dm, map[string]any{"slug": "a3", "kind": "rule", "rule": deepNot(40)}, "rule" + strings.Repeat(".not", 32)},
		{"audience rule NUL", "/api/v1/accounts/shop/audiences", dm, map[string]any{"slug": "a4", "kind": "rule", "rule": map[string]any{"field": "a\x00", "op": "exists"}}, "rule.field"},
	}
	for _, c := range cases {
		code, out := b.do(t, "POST", c.path, c.tok, c.body)
		if code != 422 || errCode(out) != "invalid" || field(out) != c.field {
			t.Errorf("%s: %d %v, want 422 invalid on %s", c.name, code, out, c.field)
		}
	}
	code, job := b.do(t, "POST", "/api/v1/accounts/shop/jobs", dm, map[string]any{"type": "noop", "label": "Wöchentlicher Export ✓", "description": "line one\n\tline two"})
	if code != 201 {
		t.Fatalf("a fine label and multi-line description: %d %v", code, job)
	}
	code, out := b.do(t, "PATCH", "/api/v1/accounts/shop/jobs/"+job["id"].(string), dm, map[string]any{"label": "bad\x07bell"})
	if code != 422 || field(out) != "label" {
		t.Errorf("PATCH a job label with BEL: %d %v", code, out)
	}
}

func deepNot(n int) map[string]any {
	r := map[string]any{"field": "country", "op": "exists"}
	for range n {
		r = map[string]any{"not": r}
	}
	return r
}
