package api

import (
	"strings"
	"testing"
)

func TestProfilesBulkUpsertGetDelete(t *testing.T) {
	t.Parallel()
	b := setupData(t)
	dm := b.toks["data_manager"]
	body := "{\"email\":\"Ann@X.io\",\"braze_id\":\"b-9\",\"date_of_birth\":\"19820101\",\"phone_number\":\"+1 5\"}\n" +
		"{\"email\":\"ann@x.io\",\"city\":\"Oslo\"}\n" +
		"{\"city\":\"no identity\"}\n"
	code, out, _ := b.raw(t, "POST", "/api/v1/accounts/acme/profiles?stream=braze_users", "application/x-ndjson", body, bearer(dm))
	if code != 200 || out["applied"] != 2.0 || out["rejected_count"] != 1.0 {
		t.Fatalf("bulk upsert: %d %v", code, out)
	}
	code, p := b.do(t, "GET", "/api/v1/accounts/acme/profiles/braze_id/b-9", b.toks["read"], nil)
	if code != 200 {
		t.Fatalf("get: %d %v", code, p)
	}
	fields, _ := p["fields"].(map[string]any)
	if fields["city"] != "Oslo" || fields["phone"] != "+1 5" || !strings.HasPrefix(fields["birth_date"].(string), "1982-01-01") {
		t.Errorf("fields = %v", fields)
	}
	if aud, _ := p["audiences"].([]any); len(aud) != 2 {
		t.Errorf("audiences = %v", p["audiences"])
	}
	if p["first_seen"] == nil || p["last_seen"] == nil || p["id"] == "" {
		t.Errorf("profile = %v, want id and first/last seen", p)
	}
	if code, _ := b.do(t, "DELETE", "/api/v1/accounts/acme/profiles/email/ann@x.io", b.toks["read"], nil); code != 403 {
		t.Errorf("delete with read token: %d", code)
	}
	if code, out := b.do(t, "DELETE", "/api/v1/accounts/acme/profiles/email/ann@x.io", dm, nil); code != 200 || out["deleted"] != true {
		t.Errorf("delete: %d %v", code, out)
	}
	if code, out := b.do(t, "GET", "/api/v1/accounts/acme/profiles/braze_id/b-9", dm, nil); code != 404 || errCode(out) != "not_found" {
		t.Errorf("get after delete: %d %v", code, out)
	}
}

// TestProfilesUpsertDefaultsToBrazeUsers: without ?stream= the records go
// through the braze_users mapping (phone_number becomes phone).
func TestProfilesUpsertDefaultsToBrazeUsers(t *testing.T) {
	t.Parallel()
	b := setupData(t)
	dm := b.toks["data_manager"]
	for _, path := range []string{"/api/v1/accounts/acme/profiles", "/api/v1/accounts/acme/profiles?stream="} {
		code, out, _ := b.raw(t, "POST", path, "application/json", `{"braze_id":"b-1","phone_number":"+1 5"}`, bearer(dm))
		if code != 200 || out["applied"] != 1.0 {
			t.Fatalf("POST %s: %d %v", path, code, out)
		}
	}
	code, p := b.do(t, "GET", "/api/v1/accounts/acme/profiles/braze_id/b-1", b.toks["read"], nil)
	if fields, _ := p["fields"].(map[string]any); code != 200 || fields["phone"] != "+1 5" || fields["phone_number"] != nil {
		t.Fatalf("profile after an upsert without stream: %d %v, want the braze_users mapping applied", code, p)
	}
}

func TestProfilesUpsertErrors(t *testing.T) {
	t.Parallel()
	b := setupData(t)
	dm := b.toks["data_manager"]
	cases := []struct {
		path, body string
		status     int
		code       string
	}{
		{"/api/v1/accounts/acme/profiles?stream=bad%20name", `{"email":"a@x.io"}`, 422, "invalid"},
		{"/api/v1/accounts/acme/profiles?stream=web", `{"email":`, 400, "malformed"},
		{"/api/v1/accounts/ghost/profiles?stream=web", `{"email":"a@x.io"}`, 404, "not_found"},
	}
	for _, c := range cases {
		tok := dm
		if strings.Contains(c.path, "ghost") {
			tok = operatorToken
		}
		code, out, _ := b.raw(t, "POST", c.path, "application/json", c.body, bearer(tok))
		if code != c.status || errCode(out) != c.code {
			t.Errorf("POST %s %s: %d %v, want %d %s", c.path, c.body, code, out, c.status, c.code)
		}
	}
	if code, _, _ := b.raw(t, "POST", "/api/v1/accounts/acme/profiles?stream=web", "application/json", `{"email":"a@x.io"}`, bearer(b.toks["read"])); code != 403 {
		t.Errorf("upsert with a read token: %d", code)
	}
}

func TestStreamMappingThroughAPI(t *testing.T) {
	t.Parallel()
	b := setupData(t)
	dm, rd := b.toks["data_manager"], b.toks["read"]
	path := "/api/v1/accounts/acme/streams/crm/mapping"
	code, m := b.do(t, "GET", path, rd, nil)
	if code != 200 || m["builtin"] != true {
		t.Fatalf("default mapping: %d %v", code, m)
	}
	code, m = b.do(t, "GET", "/api/v1/accounts/acme/streams/braze_users/mapping", rd, nil)
	if fields, _ := m["fields"].([]any); code != 200 || len(fields) < 10 {
		t.Fatalf("braze_users mapping: %d %v", code, m)
	}
	custom := map[string]any{
		"timestamp_field": "updated",
		"fields": []map[string]any{
			{"source": "Customer No", "field": "customer_id", "identity": true},
			{"source": "points", "field": "points", "type": "number"},
		},
	}
	if code, _ := b.do(t, "PUT", path, rd, custom); code != 403 {
		t.Errorf("PUT with a read token: %d", code)
	}
	code, m = b.do(t, "PUT", path, dm, custom)
	if code != 200 || m["builtin"] != false || m["timestamp_field"] != "updated" {
		t.Fatalf("PUT: %d %v", code, m)
	}
	code, out, _ := b.raw(t, "POST", "/api/v1/accounts/acme/profiles?stream=crm", "application/json",
		`[{"Customer No":"C-7","points":"12","updated":"2026-02-03T04:05:06Z"},{"Customer No":"C-8","points":"many"}]`, bearer(dm))
	if code != 200 || out["applied"] != 1.0 || out["rejected_count"] != 1.0 {
		t.Fatalf("upsert through the new mapping: %d %v", code, out)
	}
	code, p := b.do(t, "GET", "/api/v1/accounts/acme/profiles/customer_id/C-7", rd, nil)
	if fields, _ := p["fields"].(map[string]any); code != 200 || fields["points"] != 12.0 || p["last_seen"] != "2026-02-03T04:05:06Z" {
		t.Errorf("profile: %d %v", code, p)
	}
	bad := map[string]any{"fields": []map[string]any{{"source": "x", "field": "x", "type": "money", "identity": true}}}
	code, out = b.do(t, "PUT", path, dm, bad)
	if e, _ := out["error"].(map[string]any); code != 422 || e["field"] != "fields[0].type" {
		t.Errorf("invalid mapping: %d %v, want 422 naming fields[0].type", code, out)
	}
	if code, m := b.do(t, "DELETE", path, dm, nil); code != 200 || m["builtin"] != true {
		t.Errorf("reset: %d %v", code, m)
	}
}
