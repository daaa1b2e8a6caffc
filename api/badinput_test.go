package api

import (
	"context"
	"errors"
	"strings"
	"testing"

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
