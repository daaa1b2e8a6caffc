package e2e

import (
	"slices"
	"testing"
	"time"
)

// demoAccount is the account `brazesync dev` makes: in Procs mode the
// scenario makes the same through the API (a braze authorization to the
// simulator and an export of lytics_all that flushes each user at once).
func demoAccount(t *testing.T, e *Env) string {
	t.Helper()
	if e.Mode == Dev {
		return "demo"
	}
	id := "demo-" + randomHex(4)
	e.Call(t, "POST", "/api/v1/accounts", e.Admin, map[string]any{"id": id, "name": "Demo"}).Expect(t, 201)
	au := e.Call(t, "POST", "/api/v1/accounts/"+id+"/authorizations", e.Admin, map[string]any{
		"type": "braze", "label": "Braze simulator",
		"config":  map[string]any{"rest_endpoint": e.Sim},
		"secrets": map[string]any{"api_key": "demo-key"},
	}).Expect(t, 201)
	e.Call(t, "POST", "/api/v1/accounts/"+id+"/jobs", e.Admin, map[string]any{
		"type": "braze_export_audience", "label": "Demo export", "authorization_id": au.Str("id"),
		"config": map[string]any{"audiences": []string{"lytics_all"}, "existing_users": true, "flush_users": 1},
	}).Expect(t, 201)
	return id
}

// TestFirstSession is the README's tour: a profile posted the way
// a Braze webhook posts it reaches the simulator with lytics_segments, and
// reading the profile lists its audiences.
func TestFirstSession(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		acct := demoAccount(t, e)
		user := "u-" + randomHex(4)
		email := user + "@example.com"
		r := e.Call(t, "POST", "/c/"+acct+"/braze_users?key="+e.Admin, "",
			map[string]any{"braze_id": user, "email": email, "first_name": "Ann"}).Expect(t, 200)
		if r.Num("data.message_count") != 1 || r.Num("data.rejected_count") != 0 {
			t.Fatalf("collect answered %v", r)
		}
		eventually(t, 30*time.Second, "the user in the simulator with lytics_all", func() (bool, string) {
			u := e.SimUser(t, user)
			return slices.Contains(segments(u), "lytics_all"), jsonString(u)
		})
		p := e.Call(t, "GET", "/api/v1/accounts/"+acct+"/profiles/email/"+email, e.Admin, nil).Expect(t, 200)
		if got := p.Strings("audiences"); !slices.Contains(got, "lytics_all") {
			t.Errorf("profile audiences = %v, want lytics_all among them", got)
		}
		if p.Str("fields.first_name") != "Ann" {
			t.Errorf("profile fields = %v", p.Get("fields"))
		}
	})
}
