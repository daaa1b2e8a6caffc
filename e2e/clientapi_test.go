package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/client"
	"github.com/getkin/kin-openapi/openapi3"
	"golang.org/x/crypto/ssh"
)

// result is what a call returned: res(c.GetJob(...)).must(t) is the job,
// or the test fails.
type result[T any] struct {
	v   T
	err error
}

func res[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// wantCode fails the test unless err is an *client.Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if !client.IsCode(err, code) {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

// TestClientCoversTheAPI calls every operation of the document through the
// Go client, in both modes: each answer decodes strictly into the client's
// types and is held against the document, and an operation no call
// reached fails the test.
func TestClientCoversTheAPI(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		ctx := context.Background()
		op, opSeen := e.trackedClient(t, e.Admin)

		// Operations.
		if h := res(op.GetHealth(ctx)).must(t); h.Status != "ok" {
			t.Errorf("health %q", h.Status)
		}
		if r := res(op.GetReadiness(ctx)).must(t); r.Status != "ready" {
			t.Errorf("readiness %q", r.Status)
		}
		var doc map[string]any
		if err := json.Unmarshal(res(op.GetOpenAPIDocument(ctx)).must(t), &doc); err != nil || doc["openapi"] == nil {
			t.Errorf("document: %v", err)
		}
		if m := res(op.GetMetrics(ctx)).must(t); !strings.Contains(m, "brazesync_http_requests_total") {
			t.Errorf("metrics lack brazesync_http_requests_total")
		}

		// Accounts and tokens.
		id := "cli-" + randomHex(5)
		if a := res(op.CreateAccount(ctx, client.AccountInput{ID: id, Name: "Client " + id})).must(t); a.ID != id {
			t.Fatalf("account %+v", a)
		}
		_, err := op.CreateAccount(ctx, client.AccountInput{ID: id})
		wantCode(t, err, client.CodeExists)
		if !slices.ContainsFunc(res(op.ListAccounts(ctx)).must(t), func(a client.Account) bool { return a.ID == id }) {
			t.Errorf("%s is not listed", id)
		}
		res(op.GetAccount(ctx, id)).must(t)
		admin := res(op.CreateToken(ctx, id, client.TokenInput{Name: "admin", Scopes: []string{client.ScopeAdmin}})).must(t)
		c, seen := e.trackedClient(t, admin.Secret)
		spare := res(c.CreateToken(ctx, id, client.TokenInput{Name: "spare", Scopes: []string{client.ScopeRead}})).must(t)
		if got := res(c.ListTokens(ctx, id)).must(t); len(got) != 2 {
			t.Errorf("tokens %+v", got)
		}
		if r := res(c.RevokeToken(ctx, id, spare.ID)).must(t); r.RevokedAt == nil {
			t.Errorf("revoked token %+v", r)
		}
		_, err = e.Client(t, spare.Secret).GetAccount(ctx, id)
		wantCode(t, err, client.CodeUnauthorized)

		// Authorizations: Braze, the managed SFTP server, and an sftp one
		// to the managed server whose host key is tested and pinned.
		braze := res(c.CreateAuthorization(ctx, id, client.AuthorizationInput{
			Type: client.AuthorizationBraze, Label: "simulator",
			Config: &client.AuthorizationConfig{RestEndpoint: e.Sim}, Secrets: &client.AuthorizationSecrets{APIKey: "key-" + randomHex(6)},
		})).must(t)
		if !slices.Equal(braze.SecretsSet, []string{"api_key"}) {
			t.Errorf("secrets_set %v", braze.SecretsSet)
		}
		label := "renamed"
		if got := res(c.UpdateAuthorization(ctx, id, braze.ID, client.AuthorizationPatch{Label: &label})).must(t); got.Label != label {
			t.Errorf("label %q", got.Label)
		}
		_, err = c.TestAuthorization(ctx, id, braze.ID, false)
		wantCode(t, err, client.CodeNotTestable)
		managed := res(c.CreateAuthorization(ctx, id, client.AuthorizationInput{Type: client.AuthorizationSFTPManaged, Label: "drop box"})).must(t)
		if managed.ShownOnce == nil || managed.ShownOnce.Password == "" {
			t.Fatalf("no password shown once: %+v", managed)
		}
		keys := res(c.ListManagedPublicKeys(ctx, id, managed.ID)).must(t)
		if len(keys) != 1 || !keys[0].Worker {
			t.Errorf("public keys %+v, want the workers' key", keys)
		}
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sshPub := res(ssh.NewPublicKey(pub)).must(t)
		added := res(c.AddManagedPublicKey(ctx, id, managed.ID, client.ManagedPublicKeyInput{PublicKey: string(ssh.MarshalAuthorizedKey(sshPub))})).must(t)
		if added.Fingerprint != ssh.FingerprintSHA256(sshPub) {
			t.Errorf("fingerprint %q, want %q", added.Fingerprint, ssh.FingerprintSHA256(sshPub))
		}
		if err := c.RemoveManagedPublicKey(ctx, id, managed.ID, added.Fingerprint); err != nil {
			t.Fatal(err)
		}
		err = c.RemoveManagedPublicKey(ctx, id, managed.ID, keys[0].Fingerprint)
		wantCode(t, err, client.CodeWorkerKey)
		mc := managed.Config
		sftp := res(c.CreateAuthorization(ctx, id, client.AuthorizationInput{
			Type: client.AuthorizationSFTP, Label: "managed, as a customer server",
			Config:  &client.AuthorizationConfig{Host: mc.Host, Port: mc.Port, Username: mc.Username},
			Secrets: &client.AuthorizationSecrets{Password: managed.ShownOnce.Password},
		})).must(t)
		scan := res(c.TestAuthorization(ctx, id, sftp.ID, false)).must(t)
		if !scan.OK || scan.Result == nil || scan.Result.HostKeyPinned || scan.Result.Authenticated || scan.Result.HostKeyFingerprint != mc.HostKey {
			t.Fatalf("unpinned test %+v %+v", scan, scan.Result)
		}
		if pin := res(c.TestAuthorization(ctx, id, sftp.ID, true)).must(t); !pin.OK || !pin.Result.HostKeyPinned {
			t.Fatalf("pin %+v %+v", pin, pin.Result)
		}
		if login := res(c.TestAuthorization(ctx, id, sftp.ID, false)).must(t); !login.OK || !login.Result.Authenticated {
			t.Fatalf("login %+v %+v", login, login.Result)
		}
		if got := res(c.GetAuthorization(ctx, id, sftp.ID)).must(t); got.Config.HostKey == "" {
			t.Errorf("the host key is not pinned: %+v", got.Config)
		}
		if got := res(c.ListAuthorizations(ctx, id)).must(t); len(got) != 3 {
			t.Errorf("%d authorizations", len(got))
		}

		// Audiences.
		slug := "vip-" + randomHex(3)
		res(c.CreateAudience(ctx, id, client.AudienceInput{Slug: slug, Name: "VIP", Kind: client.AudienceKindList})).must(t)
		name := "Very important"
		if got := res(c.UpdateAudience(ctx, id, slug, client.AudiencePatch{Name: &name})).must(t); got.Name != name {
			t.Errorf("name %q", got.Name)
		}
		email := "ada-" + randomHex(3) + "@example.com"
		if n := res(c.UpdateAudienceMembers(ctx, id, slug, client.MembersInput{Add: []client.Identity{{"email": email}}})).must(t); n.Added != 1 {
			t.Errorf("members %+v", n)
		}
		if page := res(c.ListAudienceMembers(ctx, id, slug, &client.MembersOptions{Limit: 10})).must(t); len(page.Data) != 1 || page.Size != 1 {
			t.Errorf("members page %+v", page)
		}
		if got := res(c.GetAudience(ctx, id, slug)).must(t); got.Size != 1 {
			t.Errorf("size %d", got.Size)
		}
		if !slices.ContainsFunc(res(c.ListAudiences(ctx, id)).must(t), func(a client.Audience) bool { return a.Slug == "lytics_all" && a.Builtin }) {
			t.Errorf("lytics_all is not listed as built-in")
		}

		// Jobs: an export and an import.
		export := res(c.CreateJob(ctx, id, client.JobInput{
			Type: client.JobExportAudience, Label: "export", AuthorizationID: braze.ID,
			Config: client.JobConfig{Audiences: []string{slug}, IdentifierField: "email", IdentifierKind: "email", FlushUsers: 1},
		})).must(t)
		jl := "export, renamed"
		if got := res(c.UpdateJob(ctx, id, export.ID, client.JobPatch{Label: &jl})).must(t); got.Label != jl {
			t.Errorf("job label %q", got.Label)
		}
		if got := res(c.PauseJob(ctx, id, export.ID)).must(t); got.State != client.JobPaused {
			t.Errorf("paused job state %q", got.State)
		}
		if got := res(c.ResumeJob(ctx, id, export.ID)).must(t); got.State != client.JobRunning {
			t.Errorf("resumed job state %q", got.State)
		}
		eventually(t, 30*time.Second, "a run to end", func() (bool, string) {
			runs := res(c.ListJobRuns(ctx, id, export.ID, &client.ListOptions{Limit: 5})).must(t)
			return len(runs) > 0 && runs[0].Outcome != "running", jsonString(runs)
		})
		if _, err := c.RunJob(ctx, id, export.ID); err != nil && !client.IsCode(err, client.CodeRunInProgress) {
			t.Fatal(err)
		}
		res(c.ListJobLogs(ctx, id, export.ID, nil)).must(t)
		if got := res(c.GetJob(ctx, id, export.ID)).must(t); got.LastRun == nil || got.Config.IdentifierField != "email" {
			t.Errorf("job %+v", got)
		}
		imp := res(c.CreateJob(ctx, id, client.JobInput{
			Type: client.JobCSVImport, Label: "import", AuthorizationID: managed.ID, Schedule: "@hourly",
			Config: client.JobConfig{Pattern: "*.csv"},
		})).must(t)
		if files := res(c.ListJobFiles(ctx, id, imp.ID)).must(t); len(files) != 0 {
			t.Errorf("files %+v", files)
		}
		_, err = c.RetryJobFile(ctx, id, imp.ID, client.FileRetryInput{Path: "nothing.csv"})
		wantCode(t, err, client.CodeNotFound)
		_, err = c.ListJobFiles(ctx, id, export.ID)
		wantCode(t, err, client.CodeNotImport)
		if p := res(c.PreviewJob(ctx, id, export.ID)).must(t); p.UsersOmitted.Reasons == nil {
			t.Errorf("preview %+v", p)
		}
		if p := res(c.PreviewNewJob(ctx, id, client.JobInput{Type: client.JobExportAudience, Label: "preview", AuthorizationID: braze.ID,
			Config: client.JobConfig{Audiences: []string{slug}, ExistingUsers: true}})).must(t); p.Objects != p.UsersToAdd+p.UsersToRemove {
			t.Errorf("preview of a new job %+v", p)
		}
		_, err = c.PreviewJob(ctx, id, imp.ID)
		wantCode(t, err, client.CodeNotExport)
		_, err = c.TraceJobUser(ctx, id, export.ID, "email", "nobody@example.com")
		wantCode(t, err, client.CodeProfileNotFound)
		_, err = c.GetRunRejectedRows(ctx, id, imp.ID, "no-such-run", "")
		wantCode(t, err, client.CodeNotFound)
		if got := res(c.ListJobs(ctx, id, nil)).must(t); len(got) != 2 {
			t.Errorf("%d jobs", len(got))
		}
		for _, j := range []string{export.ID, imp.ID} {
			if got := res(c.DeleteJob(ctx, id, j)).must(t); got.State != client.JobDeleted {
				t.Errorf("deleted job state %q", got.State)
			}
		}
		if got := res(c.ListJobs(ctx, id, &client.ListJobsOptions{Deleted: true})).must(t); len(got) != 2 {
			t.Errorf("%d jobs with the deleted ones", len(got))
		}

		// Profiles, mappings and the collect endpoint.
		if r := res(c.UpsertProfiles(ctx, id, "", []client.Record{{"email": email, "first_name": "Ada"}})).must(t); r.Applied != 1 {
			t.Errorf("upsert %+v", r)
		}
		if p := res(c.GetProfile(ctx, id, "email", email)).must(t); p.Fields["first_name"] != "Ada" || !slices.Contains(p.Audiences, slug) {
			t.Errorf("profile %+v", p)
		}
		mapping := res(c.ReplaceStreamMapping(ctx, id, "crm", client.MappingInput{Fields: []client.FieldMapping{
			{Source: "mail", Field: "email", Identity: true}, {Source: "plan", Field: "plan"},
		}})).must(t)
		if mapping.Builtin || len(mapping.Fields) != 2 {
			t.Errorf("stored mapping %+v", mapping)
		}
		if got := res(c.GetStreamMapping(ctx, id, "crm")).must(t); got.Builtin {
			t.Errorf("mapping %+v", got)
		}
		dry := res(c.Collect(ctx, id, "crm", []client.Record{{"mail": "x@example.com"}}, &client.CollectOptions{DryRun: true})).must(t)
		if dry.Data == nil || !dry.Data.DryRun || dry.Data.MessageCount != 1 {
			t.Errorf("dry run %+v", dry.Data)
		}
		got := res(c.Collect(ctx, id, "crm", []client.Record{{"mail": "grace@example.com", "plan": "gold"}, {"plan": "no identity"}}, nil)).must(t)
		if got.Data == nil || got.Data.MessageCount != 1 || got.Data.RejectedCount != 1 {
			t.Errorf("collect %+v", got.Data)
		}
		if rej := res(c.ListStreamRejections(ctx, id, "crm", &client.ListOptions{Limit: 10})).must(t); len(rej) != 1 {
			t.Errorf("rejections %+v", rej)
		}
		if r := res(c.CollectOwnAccount(ctx, "braze_users", []client.Record{{"email": "own-" + email}}, nil)).must(t); r.Data == nil || r.Data.MessageCount != 1 {
			t.Errorf("collect to the own account %+v", r)
		}
		if got := res(c.ResetStreamMapping(ctx, id, "crm")).must(t); !got.Builtin {
			t.Errorf("reset mapping %+v", got)
		}
		if d := res(c.DeleteProfile(ctx, id, "email", email)).must(t); !d.Deleted {
			t.Errorf("delete profile %+v", d)
		}
		_, err = c.GetProfile(ctx, id, "email", email)
		wantCode(t, err, client.CodeNotFound)
		if err := c.DeleteAudience(ctx, id, slug); err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{braze.ID, sftp.ID, managed.ID} {
			if err := c.DeleteAuthorization(ctx, id, a); err != nil {
				t.Fatal(err)
			}
		}

		for _, id := range documentedOperations(t, res(op.GetOpenAPIDocument(ctx)).must(t)) {
			if !opSeen.has(id) && !seen.has(id) {
				t.Errorf("no call reached %s", id)
			}
		}
	})
}

// documentedOperations are the operationIds of an OpenAPI document.
func documentedOperations(t *testing.T, b []byte) []string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, item := range doc.Paths.Map() {
		for _, o := range item.Operations() {
			ids = append(ids, o.OperationID)
		}
	}
	return ids
}
