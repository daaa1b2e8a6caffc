package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/client"
)

// modesSetup makes an account with a braze authorization (config cfg on
// top of the simulator's endpoint) and an audience "fr" of the profiles
// whose country is FR, and returns the account, the authorization and
// its API key.
func modesSetup(t *testing.T, e *Env, cfg *client.AuthorizationConfig) (*Account, *client.Client, string, string) {
	t.Helper()
	ctx := context.Background()
	a := e.NewAccount(t)
	c := a.Client(t)
	key := "key-" + randomHex(8)
	if cfg == nil {
		cfg = &client.AuthorizationConfig{}
	}
	cfg.RestEndpoint = e.Sim
	au := res(c.CreateAuthorization(ctx, a.ID, client.AuthorizationInput{Type: client.AuthorizationBraze, Label: "simulator",
		Config: cfg, Secrets: &client.AuthorizationSecrets{APIKey: key}})).must(t)
	a.Call(t, "POST", "/audiences", map[string]any{"slug": "fr", "name": "France", "kind": "rule",
		"rule": map[string]any{"field": "country", "op": "eq", "value": "FR"}}).Expect(t, 201)
	return a, c, au.ID, key
}

// TestExportBooleanMode: a boolean-mode job writes lytics_fr true for a
// member and false once the member leaves; nothing goes into
// lytics_segments.
func TestExportBooleanMode(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		ctx := context.Background()
		a, c, auth, _ := modesSetup(t, e, nil)
		user := "bm-" + randomHex(4)
		a.Call(t, "POST", "/profiles?stream=braze_users", []map[string]any{{"external_id": user, "country": "FR"}}).Expect(t, 200)
		audienceSize(t, a, "fr", 1)
		res(c.CreateJob(ctx, a.ID, client.JobInput{Type: client.JobExportAudience, Label: "booleans", AuthorizationID: auth,
			Config: client.JobConfig{Audiences: []string{"fr"}, IdentifierField: "external_id", AttributeMode: "boolean",
				ExistingUsers: true, FlushUsers: 1}})).must(t)
		eventually(t, 60*time.Second, "lytics_fr true in the simulator", func() (bool, string) {
			u := e.SimUser(t, user)
			return u != nil && u["lytics_fr"] == true, jsonString(u)
		})
		if u := e.SimUser(t, user); u["lytics_segments"] != nil {
			t.Errorf("a boolean-mode job wrote the array: %v", u)
		}
		a.Call(t, "POST", "/profiles?stream=braze_users", []map[string]any{{"external_id": user, "country": "DE"}}).Expect(t, 200)
		eventually(t, 60*time.Second, "lytics_fr false once the user left", func() (bool, string) {
			u := e.SimUser(t, user)
			return u != nil && u["lytics_fr"] == false, jsonString(u)
		})
	})
}

// TestExportModeSwitch: an array-mode job switched to boolean mode, with
// another prefix, removes its slug from every user's array (leaving other
// slugs) and writes the booleans; switched back, the booleans are removed
// (null) and the array written again. No user changed meanwhile.
func TestExportModeSwitch(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		ctx := context.Background()
		a, c, auth, key := modesSetup(t, e, nil)
		in, out := "ms-in-"+randomHex(4), "ms-out-"+randomHex(4)
		a.Call(t, "POST", "/profiles?stream=braze_users", []map[string]any{{"external_id": in, "country": "FR"}, {"external_id": out, "country": "FR"}}).Expect(t, 200)
		audienceSize(t, a, "fr", 2)
		job := res(c.CreateJob(ctx, a.ID, client.JobInput{Type: client.JobExportAudience, Label: "switch", AuthorizationID: auth,
			Config: client.JobConfig{Audiences: []string{"fr"}, IdentifierField: "external_id", ExistingUsers: true, FlushUsers: 1}})).must(t).ID
		eventually(t, 60*time.Second, "both users in fr in the array", func() (bool, string) {
			return slices.Contains(segments(e.SimUser(t, in)), "fr") && slices.Contains(segments(e.SimUser(t, out)), "fr"), jsonString(e.SimUser(t, in))
		})
		// Another tool's slug in the array stays; one user leaves fr.
		call(t, "POST", e.Sim+"/users/track", key, map[string]any{"attributes": []map[string]any{
			{"external_id": in, "lytics_segments": map[string]any{"add": []string{"other"}}}}}, nil).Expect(t, 201)
		a.Call(t, "POST", "/profiles?stream=braze_users", []map[string]any{{"external_id": out, "country": "DE"}}).Expect(t, 200)
		eventually(t, 60*time.Second, "the leaver's fr removed", func() (bool, string) {
			return !slices.Contains(segments(e.SimUser(t, out)), "fr"), jsonString(e.SimUser(t, out))
		})

		res(c.UpdateJob(ctx, a.ID, job, client.JobPatch{Config: map[string]any{"audiences": []string{"fr"}, "attribute_mode": "boolean", "attribute_prefix": "aud_"}})).must(t)
		eventually(t, 60*time.Second, "the member converted to boolean mode", func() (bool, string) {
			u := e.SimUser(t, in)
			return u["aud_fr"] == true && slices.Equal(segments(u), []string{"other"}), jsonString(u)
		})
		if u := e.SimUser(t, out); u["aud_fr"] != nil || slices.Contains(segments(u), "fr") {
			t.Errorf("the non-member after the switch: %v", u)
		}

		res(c.UpdateJob(ctx, a.ID, job, client.JobPatch{Config: map[string]any{"audiences": []string{"fr"}, "attribute_mode": "array"}})).must(t)
		eventually(t, 60*time.Second, "the member back in array mode", func() (bool, string) {
			u := e.SimUser(t, in)
			_, has := u["aud_fr"]
			segs := segments(u)
			slices.Sort(segs)
			return !has && slices.Equal(segs, []string{"fr", "other"}), jsonString(u)
		})
	})
}

// TestExportArrayLimitGuard: with max_array_items 2, a second array-mode
// job that brings the distinct audiences of lytics_segments to 3 is
// refused with 422 naming the first job and the count; so is a change of
// the first job past the limit; a boolean-mode job is not concerned.
func TestExportArrayLimitGuard(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		ctx := context.Background()
		a, c, auth, _ := modesSetup(t, e, &client.AuthorizationConfig{MaxArrayItems: 2})
		for _, s := range []string{"de", "es"} {
			a.Call(t, "POST", "/audiences", map[string]any{"slug": s, "name": s, "kind": "rule",
				"rule": map[string]any{"field": "country", "op": "eq", "value": strings.ToUpper(s)}}).Expect(t, 201)
		}
		first := res(c.CreateJob(ctx, a.ID, client.JobInput{Type: client.JobExportAudience, Label: "first", AuthorizationID: auth,
			Config: client.JobConfig{Audiences: []string{"fr", "de"}}})).must(t).ID
		_, err := c.CreateJob(ctx, a.ID, client.JobInput{Type: client.JobExportAudience, Label: "second", AuthorizationID: auth,
			Config: client.JobConfig{Audiences: []string{"de", "es"}}})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != 422 || ce.Code != "invalid" || !strings.Contains(ce.Message, first) || !strings.Contains(ce.Message, "3 distinct audiences") {
			t.Fatalf("a job past max_array_items: %v", err)
		}
		_, err = c.UpdateJob(ctx, a.ID, first, client.JobPatch{Config: map[string]any{"audiences": []string{"fr", "de", "es"}}})
		if !errors.As(err, &ce) || ce.Status != 422 || !strings.Contains(ce.Message, "3 distinct audiences") {
			t.Fatalf("a change past max_array_items: %v", err)
		}
		res(c.CreateJob(ctx, a.ID, client.JobInput{Type: client.JobExportAudience, Label: "booleans", AuthorizationID: auth,
			Config: client.JobConfig{Audiences: []string{"fr", "de", "es"}, AttributeMode: "boolean"}})).must(t)
	})
}

// TestExportUpdateExistingOnly: with update_existing_only a member Braze
// has gets the audience, a member Braze does not have is not created, and
// the job's run counts it as not_in_braze.
func TestExportUpdateExistingOnly(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		ctx := context.Background()
		a, c, auth, key := modesSetup(t, e, nil)
		known, ghost := "ue-known-"+randomHex(4), "ue-ghost-"+randomHex(4)
		call(t, "POST", e.Sim+"/users/track", key, map[string]any{"attributes": []map[string]any{
			{"external_id": known, "first_name": "Known"}}}, nil).Expect(t, 201)
		a.Call(t, "POST", "/profiles?stream=braze_users", []map[string]any{{"external_id": known, "country": "FR"}, {"external_id": ghost, "country": "FR"}}).Expect(t, 200)
		audienceSize(t, a, "fr", 2)
		job := res(c.CreateJob(ctx, a.ID, client.JobInput{Type: client.JobExportAudience, Label: "known only", AuthorizationID: auth,
			Config: client.JobConfig{Audiences: []string{"fr"}, IdentifierField: "external_id", UpdateExistingOnly: true,
				ExistingUsers: true, FlushUsers: 1}})).must(t).ID
		eventually(t, 60*time.Second, "the known user updated and the ghost counted", func() (bool, string) {
			rs := res(c.ListJobRuns(ctx, a.ID, job, nil)).must(t)
			var skipped int64
			for _, r := range rs {
				skipped += r.Counters["not_in_braze"]
			}
			return slices.Contains(segments(e.SimUser(t, known)), "fr") && skipped == 1, fmt.Sprint(rs)
		})
		if u := e.SimUser(t, ghost); u != nil {
			t.Fatalf("update_existing_only created a Braze user: %v", u)
		}
	})
}
