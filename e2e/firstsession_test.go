package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/brazesync/brazesync/client"
)

// demoAccount is the account `brazesync dev` makes: in Procs mode the
// scenario makes the same through the API (a braze authorization to the
// simulator and an export of lytics_all that flushes each user at once).
func demoAccount(t *testing.T, e *Env) string {
	t.Helper()
	if e.Mode == Dev {
		return "demo"
	}
	ctx := context.Background()
	c := e.Client(t, e.Admin)
	id := "demo-" + randomHex(4)
	res(c.CreateAccount(ctx, client.AccountInput{ID: id, Name: "Demo"})).must(t)
	au := res(c.CreateAuthorization(ctx, id, client.AuthorizationInput{
		Type: client.AuthorizationBraze, Label: "Braze simulator",
		Config:  &client.AuthorizationConfig{RestEndpoint: e.Sim},
		Secrets: &client.AuthorizationSecrets{APIKey: "demo-key"},
	})).must(t)
	res(c.CreateJob(ctx, id, client.JobInput{
		Type: client.JobExportAudience, Label: "Demo export", AuthorizationID: au.ID,
		Config: client.JobConfig{Audiences: []string{"lytics_all"}, ExistingUsers: true, FlushUsers: 1},
	})).must(t)
	return id
}

// TestFirstSession is the README's tour: a profile posted the way a Braze
// webhook posts it (raw HTTP, ?key=) reaches the simulator with
// lytics_segments, and reading the profile lists its audiences.
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
		p := res(e.Client(t, e.Admin).GetProfile(context.Background(), acct, "email", email)).must(t)
		if !slices.Contains(p.Audiences, "lytics_all") {
			t.Errorf("profile audiences = %v, want lytics_all among them", p.Audiences)
		}
		if p.Fields["first_name"] != "Ann" {
			t.Errorf("profile fields = %v", p.Fields)
		}
	})
}
