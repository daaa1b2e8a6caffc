package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctlRun is one run of `brazesync ctl`.
type ctlRun struct {
	code           int
	stdout, stderr string
}

// ctlShell runs `brazesync ctl` as a user does, with BRAZESYNC_URL,
// BRAZESYNC_TOKEN and BRAZESYNC_ACCOUNT set.
type ctlShell struct {
	e              *Env
	token, account string
	dir            string
}

func (s *ctlShell) run(t *testing.T, stdin string, args ...string) ctlRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"ctl"}, args...)...)
	cmd.Env = baseEnv(map[string]string{"BRAZESYNC_URL": s.e.API, "BRAZESYNC_TOKEN": s.token, "BRAZESYNC_ACCOUNT": s.account})
	cmd.Dir = s.dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("brazesync ctl %s: %v", strings.Join(args, " "), err)
	}
	return ctlRun{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

// ok runs the command, fails the test unless it exits 0, and returns its
// output.
func (s *ctlShell) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := s.run(t, "", args...)
	if r.code != 0 {
		t.Fatalf("brazesync ctl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// expect runs the command and fails the test unless it exits code.
func (s *ctlShell) expect(t *testing.T, code int, args ...string) ctlRun {
	t.Helper()
	r := s.run(t, "", args...)
	if r.code != code {
		t.Fatalf("brazesync ctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

// jsonOf decodes a -o json output.
func jsonOf(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
}

// TestCtl drives `brazesync ctl` as an operator and an account's admin
// would, in both modes: tables by default, JSON with -o json, the exit
// statuses of the error classes.
func TestCtl(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		dir := t.TempDir()
		op := &ctlShell{e: e, token: e.Admin, dir: dir}
		id := "ctl-" + randomHex(5)
		if out := op.ok(t, "accounts", "create", id, "Ctl scenario"); !strings.Contains(out, id) || !strings.Contains(out, "Ctl scenario") {
			t.Errorf("accounts create printed %q", out)
		}
		var accounts []map[string]any
		jsonOf(t, op.ok(t, "accounts", "list", "-o", "json"), &accounts)
		found := false
		for _, a := range accounts {
			found = found || a["id"] == id
		}
		if !found {
			t.Errorf("accounts list -o json lacks %s", id)
		}
		var tok map[string]any
		jsonOf(t, op.ok(t, "tokens", "create", "ctl", "admin", "--account", id, "-o", "json"), &tok)
		sh := &ctlShell{e: e, token: tok["token"].(string), account: id, dir: dir}

		// Tokens.
		spare := sh.ok(t, "tokens", "create", "spare", "read", "--expires", "24h")
		if !strings.Contains(spare, "shown once") {
			t.Errorf("tokens create printed %q", spare)
		}
		if out := sh.ok(t, "tokens", "list"); !strings.Contains(out, "SCOPES") || !strings.Contains(out, "spare") {
			t.Errorf("tokens list printed %q", out)
		}
		var toks []map[string]any
		jsonOf(t, sh.ok(t, "tokens", "list", "-o", "json"), &toks)
		for _, tk := range toks {
			if tk["name"] == "spare" {
				sh.ok(t, "tokens", "revoke", tk["id"].(string))
			}
		}
		bad := &ctlShell{e: e, token: "bs_nothing", account: id, dir: dir}
		bad.expect(t, 5, "jobs", "list")

		// Authorizations.
		keyFile := filepath.Join(dir, "api_key")
		if err := os.WriteFile(keyFile, []byte("key-"+randomHex(6)), 0o600); err != nil {
			t.Fatal(err)
		}
		var braze map[string]any
		jsonOf(t, sh.ok(t, "auth", "create", "--type", "braze", "--label", "simulator", "--config", "rest_endpoint="+e.Sim, "--secret-file", "api_key="+keyFile, "-o", "json"), &braze)
		brazeID := braze["id"].(string)
		if out := sh.ok(t, "auth", "list"); !strings.Contains(out, brazeID) || !strings.Contains(out, "api_key") || !strings.Contains(out, e.Sim) {
			t.Errorf("auth list printed %q", out)
		}
		if out := sh.ok(t, "auth", "show", brazeID); !strings.Contains(out, "config rest_endpoint") {
			t.Errorf("auth show printed %q", out)
		}
		if r := sh.expect(t, 4, "auth", "test", brazeID); !strings.Contains(r.stderr, "not_testable") {
			t.Errorf("auth test of a braze authorization: %q", r.stderr)
		}
		sh.expect(t, 3, "auth", "show", "au_nothing")
		var managed map[string]any
		jsonOf(t, sh.ok(t, "auth", "create", "--type", "sftp_managed", "--label", "drop box", "-o", "json"), &managed)
		mc := managed["config"].(map[string]any)
		sftpBody, err := json.Marshal(map[string]any{
			"type": "sftp", "label": "managed, as a customer server",
			"config":  map[string]any{"host": mc["host"], "port": mc["port"], "username": mc["username"]},
			"secrets": map[string]any{"password": managed["shown_once"].(map[string]any)["password"]},
		})
		if err != nil {
			t.Fatal(err)
		}
		sftpFile := filepath.Join(dir, "sftp.json")
		if err := os.WriteFile(sftpFile, sftpBody, 0o600); err != nil {
			t.Fatal(err)
		}
		var sftp map[string]any
		jsonOf(t, sh.ok(t, "auth", "create", "--file", sftpFile, "-o", "json"), &sftp)
		sftpID := sftp["id"].(string)
		if out := sh.ok(t, "auth", "test", sftpID); !strings.Contains(out, "host key pinned  false") || !strings.Contains(out, mc["host_key"].(string)) {
			t.Errorf("auth test of an unpinned authorization printed %q", out)
		}
		if out := sh.ok(t, "auth", "pin", sftpID); !strings.Contains(out, "host key pinned  true") {
			t.Errorf("auth pin printed %q", out)
		}
		if out := sh.ok(t, "auth", "test", sftpID); !strings.Contains(out, "logged in        true") {
			t.Errorf("auth test after pin printed %q", out)
		}

		// Audiences.
		slug := "vip-" + randomHex(3)
		email := "ada-" + randomHex(3) + "@example.com"
		sh.ok(t, "audiences", "create", slug, "--name", "VIP")
		if out := sh.ok(t, "audiences", "members", slug, "--add", "email="+email); !strings.Contains(out, "ADDED") {
			t.Errorf("audiences members --add printed %q", out)
		}
		var page map[string]any
		jsonOf(t, sh.ok(t, "audiences", "members", slug, "-o", "json"), &page)
		if data, _ := page["data"].([]any); len(data) != 1 {
			t.Errorf("audiences members -o json: %v", page)
		}
		if out := sh.ok(t, "audiences", "show", slug); !strings.Contains(out, "size") {
			t.Errorf("audiences show printed %q", out)
		}
		if out := sh.ok(t, "audiences", "list"); !strings.Contains(out, slug) || !strings.Contains(out, "lytics_all") {
			t.Errorf("audiences list printed %q", out)
		}

		// Jobs: an export from a YAML file, an import from JSON on stdin.
		yamlFile := filepath.Join(dir, "export.yaml")
		yamlDoc := "type: braze_export_audience\nlabel: VIPs\nauthorization_id: " + brazeID +
			"\nconfig:\n  audiences: [" + slug + "]\n  identifier_field: email\n  identifier_kind: email\n  flush_users: 1\n"
		if err := os.WriteFile(yamlFile, []byte(yamlDoc), 0o600); err != nil {
			t.Fatal(err)
		}
		var job map[string]any
		jsonOf(t, sh.ok(t, "jobs", "create", "--file", yamlFile, "-o", "json"), &job)
		jobID := job["id"].(string)
		if out := sh.ok(t, "jobs", "list"); !strings.Contains(out, jobID) || !strings.Contains(out, "HEALTH") {
			t.Errorf("jobs list printed %q", out)
		}
		if out := sh.ok(t, "jobs", "pause", jobID); !strings.Contains(out, "paused") {
			t.Errorf("jobs pause printed %q", out)
		}
		if out := sh.ok(t, "jobs", "resume", jobID); !strings.Contains(out, "running") {
			t.Errorf("jobs resume printed %q", out)
		}
		eventually(t, 30*time.Second, "a run of the export to end", func() (bool, string) {
			var runs []map[string]any
			jsonOf(t, sh.ok(t, "jobs", "runs", jobID, "-o", "json", "--limit", "5"), &runs)
			return len(runs) > 0 && runs[0]["ended_at"] != nil, jsonString(runs)
		})
		if r := sh.run(t, "", "jobs", "run", jobID); r.code != 0 && !(r.code == 4 && strings.Contains(r.stderr, "run_in_progress")) {
			t.Errorf("jobs run: exit %d %s", r.code, r.stderr)
		}
		if out := sh.ok(t, "jobs", "show", jobID); !strings.Contains(out, "last run") {
			t.Errorf("jobs show printed %q", out)
		}
		if out := sh.ok(t, "jobs", "logs", jobID); !strings.Contains(out, "MESSAGE") {
			t.Errorf("jobs logs printed %q", out)
		}
		if r := sh.expect(t, 4, "jobs", "files", jobID); !strings.Contains(r.stderr, "not_import") {
			t.Errorf("jobs files of an export: %q", r.stderr)
		}
		stdin := `{"type": "csv_import", "label": "drops", "authorization_id": "` + managed["id"].(string) + `", "schedule": "@hourly", "config": {"pattern": "*.csv"}}`
		r := sh.run(t, stdin, "jobs", "create", "--file", "-", "-o", "json")
		if r.code != 0 {
			t.Fatalf("jobs create from stdin: %d %s", r.code, r.stderr)
		}
		var imp map[string]any
		jsonOf(t, r.stdout, &imp)
		if out := sh.ok(t, "jobs", "files", imp["id"].(string)); !strings.Contains(out, "PATH") {
			t.Errorf("jobs files printed %q", out)
		}
		// Notify settings from the file; the secret is in that answer only.
		stdin = `{"type": "csv_import", "label": "notified", "authorization_id": "` + managed["id"].(string) + `", "schedule": "@hourly", "config": {"pattern": "*.csv"},
			"notify": {"url": "https://hooks.example.com/brazesync", "events": ["run_failed"]}}`
		r = sh.run(t, stdin, "jobs", "create", "--file", "-", "-o", "json")
		var notified map[string]any
		jsonOf(t, r.stdout, &notified)
		secret, _ := notified["notify"].(map[string]any)["secret"].(string)
		if r.code != 0 || !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("jobs create with notify: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if out := sh.ok(t, "jobs", "show", notified["id"].(string)); !strings.Contains(out, "https://hooks.example.com/brazesync (run_failed)") || strings.Contains(out, secret) {
			t.Errorf("jobs show of a notified job printed %q", out)
		}

		// Profiles.
		if out := sh.ok(t, "profiles", "get", "email", email); !strings.Contains(out, slug) || !strings.Contains(out, "identity email") {
			t.Errorf("profiles get printed %q", out)
		}
		sh.expect(t, 3, "profiles", "get", "email", "nobody-"+email)
		sh.expect(t, 2, "jobs", "show")
	})
}
