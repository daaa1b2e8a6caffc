package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// profileAudiences reads a profile and returns its audiences.
func profileAudiences(t *testing.T, a *Account, field, value string) []string {
	t.Helper()
	return a.Call(t, "GET", "/profiles/"+field+"/"+value, nil).Expect(t, 200).Strings("audiences")
}

// audienceSize waits for the audience's re-evaluation to end and returns
// its size.
func audienceSize(t *testing.T, a *Account, slug string, want int) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("audience %s to hold %d profiles", slug, want), func() (bool, string) {
		j := a.Call(t, "GET", "/audiences/"+slug, nil).Expect(t, 200)
		return j.Num("size") == float64(want), jsonString(j)
	})
}

// TestRuleAudience: a rule audience holds the profiles that match it,
// whether it was created before or after them, and follows their changes.
func TestRuleAudience(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		rule := map[string]any{"field": "country", "op": "eq", "value": "FR"}
		a.Call(t, "POST", "/audiences", map[string]any{"slug": "fr_before", "name": "France", "kind": "rule", "rule": rule}).Expect(t, 201)
		var recs []map[string]any
		for i := range 20 {
			country := "FR"
			if i%2 == 1 {
				country = "DE"
			}
			recs = append(recs, map[string]any{"external_id": fmt.Sprintf("p%d", i), "country": country})
		}
		r := a.Call(t, "POST", "/profiles?stream=braze_users", recs).Expect(t, 200)
		if r.Num("applied") != 20 {
			t.Fatalf("upsert answered %v", r)
		}
		a.Call(t, "POST", "/audiences", map[string]any{"slug": "fr_after", "name": "France too", "kind": "rule", "rule": rule}).Expect(t, 201)
		audienceSize(t, a, "fr_before", 10)
		audienceSize(t, a, "fr_after", 10)
		if got := profileAudiences(t, a, "external_id", "p0"); !slices.Contains(got, "fr_before") || !slices.Contains(got, "fr_after") {
			t.Errorf("p0 audiences = %v", got)
		}
		if got := profileAudiences(t, a, "external_id", "p1"); slices.Contains(got, "fr_before") || slices.Contains(got, "fr_after") {
			t.Errorf("p1 (DE) audiences = %v", got)
		}
		// A profile that moves leaves both.
		a.Call(t, "POST", "/profiles?stream=braze_users", []map[string]any{{"external_id": "p0", "country": "IT"}}).Expect(t, 200)
		audienceSize(t, a, "fr_before", 9)
		audienceSize(t, a, "fr_after", 9)
		if got := profileAudiences(t, a, "external_id", "p0"); slices.Contains(got, "fr_before") {
			t.Errorf("p0 still in fr_before after moving: %v", got)
		}
	})
}

// TestListAudience: members are added and removed by identity; adding an
// unknown identity creates its profile.
func TestListAudience(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		a.Call(t, "POST", "/audiences", map[string]any{"slug": "vip", "name": "VIP", "kind": "list"}).Expect(t, 201)
		a.Call(t, "POST", "/profiles?stream=braze_users", []map[string]any{{"email": "known@example.com"}}).Expect(t, 200)
		c := a.Call(t, "POST", "/audiences/vip/members", map[string]any{
			"add": []map[string]any{{"email": "known@example.com"}, {"email": "new@example.com"}},
		}).Expect(t, 200)
		if c.Num("added") != 2 || c.Num("created") != 1 {
			t.Errorf("add answered %v, want 2 added, 1 created", c)
		}
		audienceSize(t, a, "vip", 2)
		m := a.Call(t, "GET", "/audiences/vip/members", nil).Expect(t, 200)
		if len(m.Arr("data")) != 2 {
			t.Errorf("members = %v", m)
		}
		c = a.Call(t, "POST", "/audiences/vip/members", map[string]any{
			"remove": []map[string]any{{"email": "known@example.com"}, {"email": "nobody@example.com"}},
		}).Expect(t, 200)
		if c.Num("removed") != 1 || c.Num("not_found") != 1 {
			t.Errorf("remove answered %v, want 1 removed, 1 not found", c)
		}
		audienceSize(t, a, "vip", 1)
		if got := profileAudiences(t, a, "email", "known@example.com"); slices.Contains(got, "vip") {
			t.Errorf("removed member still lists vip: %v", got)
		}
		if got := profileAudiences(t, a, "email", "new@example.com"); !slices.Contains(got, "vip") {
			t.Errorf("member does not list vip: %v", got)
		}
	})
}
