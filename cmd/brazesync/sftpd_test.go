package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

const managedOperatorToken = "operator-token-managed-0123456789"

// managedBundle is the API, a worker and the managed SFTP server of one app,
// in this process, on a leased Redis database.
type managedBundle struct {
	app      *app
	api      *httptest.Server
	sftpAddr string
	dataDir  string
	admin    string // an admin token of account "acme"
}

func setupManaged(t *testing.T) *managedBundle {
	t.Helper()
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Skip("OpenSSH sftp client not installed")
	}
	return setupManagedEnv(t, nil)
}

// setupManagedEnv is setupManaged with more environment variables (a
// production configuration otherwise).
func setupManagedEnv(t *testing.T, extra map[string]string) *managedBundle {
	t.Helper()
	_, url := redistest.DB(t)
	b := &managedBundle{sftpAddr: freeAddr(t), dataDir: t.TempDir()}
	env := map[string]string{
		"REDIS_URL": url, "BRAZESYNC_MASTER_KEY": masterKey, "BRAZESYNC_ADMIN_TOKEN": managedOperatorToken,
		"SFTP_ADDR": b.sftpAddr, "DATA_DIR": b.dataDir, "WORKER_CONCURRENCY": "4", "LOG_LEVEL": "error",
	}
	maps.Copy(env, extra)
	getenv := func(k string) string { return env[k] }
	cfg, err := load(getenv, config.Production)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := newApp(ctx, cfg, newLogger(cfg.LogLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	b.app = a
	srv, closeMon, err := a.apiServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeMon)
	b.api = httptest.NewServer(srv.Handler())
	t.Cleanup(b.api.Close)
	w := a.workerServer()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	sc, err := config.LoadSFTPD(getenv)
	if err != nil {
		t.Fatal(err)
	}
	sftp, err := a.sftpdComponent(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := sftp.start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sftp.stop)

	if code, out := b.do(t, "POST", "/api/v1/accounts", managedOperatorToken, map[string]any{"id": "acme", "name": "Acme"}); code != 201 {
		t.Fatalf("create account: %d %v", code, out)
	}
	code, out := b.do(t, "POST", "/api/v1/accounts/acme/tokens", managedOperatorToken, map[string]any{"name": "admin", "scopes": []string{"admin"}})
	if code != 201 {
		t.Fatalf("create token: %d %v", code, out)
	}
	b.admin = out["token"].(string)
	return b
}

func (b *managedBundle) do(t *testing.T, method, path, tok string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		bb, _ := json.Marshal(body)
		rd = bytes.NewReader(bb)
	}
	req, _ := http.NewRequest(method, b.api.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// serverHostKey returns the host key the managed server presents.
func (b *managedBundle) serverHostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	var got ssh.PublicKey
	conn, err := ssh.Dial("tcp", b.sftpAddr, &ssh.ClientConfig{
		User: "nobody",
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			got = k
			return errors.New("seen")
		},
		Timeout: 10 * time.Second,
	})
	if conn != nil {
		conn.Close()
	}
	if got == nil {
		t.Fatalf("no host key from the managed server: %v", err)
	}
	return got
}

// clientKey generates a key pair, writes the private key for OpenSSH and
// returns its file and the authorized_keys line.
func clientKey(t *testing.T) (keyFile, authorized string) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	return keyFile, string(ssh.MarshalAuthorizedKey(sshPub))
}

// openSSHPut uploads local files with OpenSSH's sftp in batch mode (key
// auth, host key pinned by known_hosts).
func openSSHPut(t *testing.T, port int, hostKey ssh.PublicKey, username, keyFile, workDir string, names ...string) {
	t.Helper()
	dir := t.TempDir()
	known := filepath.Join(dir, "known_hosts")
	_ = os.WriteFile(known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(hostKey))), 0o600)
	var batch strings.Builder
	for _, n := range names {
		fmt.Fprintf(&batch, "put %s\n", n)
	}
	batchFile := filepath.Join(dir, "batch")
	_ = os.WriteFile(batchFile, []byte(batch.String()), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sftp", "-b", batchFile, "-P", strconv.Itoa(port), "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+known, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-i", keyFile,
		username+"@127.0.0.1")
	cmd.Dir = workDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sftp put: %v\n%s", err, out)
	}
}

const managedBrazeCSV = "Braze ID,user_id,email,first_name,country\n" +
	"b1,u1,one@example.com,Ann,FR\n" +
	"b2,u2,two@example.com,Bob,DE\n"

// TestManagedUploadIsImportedWithoutPoll is the end to end: an sftp_managed
// authorization created through the API, a public key added through the
// API, a csv_import job without schedule; a Braze CSV uploaded with
// OpenSSH's sftp is in the profiles within two seconds of the upload
// closing, read by the worker over SFTP with the authorization's own
// credentials.
func TestManagedUploadIsImportedWithoutPoll(t *testing.T) {
	t.Parallel()
	b := setupManaged(t)
	ctx := context.Background()

	code, au := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", b.admin, map[string]any{"type": "sftp_managed", "label": "Braze uploads"})
	if code != 201 {
		t.Fatalf("create authorization: %d %v", code, au)
	}
	authID := au["id"].(string)
	cfg := au["config"].(map[string]any)
	_, sftpPort, _ := net.SplitHostPort(b.sftpAddr)
	username, _ := cfg["username"].(string)
	if cfg["host"] != "127.0.0.1" || fmt.Sprint(cfg["port"]) != sftpPort || !strings.HasPrefix(username, "acme-") || cfg["folder"] != "/" {
		t.Fatalf("config: %v", cfg)
	}
	if pw, _ := au["shown_once"].(map[string]any)["password"].(string); len(pw) < 12 {
		t.Fatalf("password not shown once: %v", au)
	}
	if set := fmt.Sprint(au["secrets_set"]); set != "[password private_key]" {
		t.Fatalf("secrets_set = %s, want [password private_key]", set)
	}
	hostKey := b.serverHostKey(t)
	if cfg["host_key"] != ssh.FingerprintSHA256(hostKey) {
		t.Fatalf("config.host_key %v is not the server's key %s", cfg["host_key"], ssh.FingerprintSHA256(hostKey))
	}
	if _, out := b.do(t, "GET", "/api/v1/accounts/acme/authorizations/"+authID, b.admin, nil); out["shown_once"] != nil || strings.Contains(fmt.Sprint(out), au["shown_once"].(map[string]any)["password"].(string)) {
		t.Fatalf("the password is shown again: %v", out)
	}

	keyFile, authorized := clientKey(t)
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/authorizations/"+authID+"/public_keys", b.admin, map[string]any{"public_key": authorized}); code != 201 {
		t.Fatalf("add public key: %d %v", code, out)
	}

	code, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", b.admin, map[string]any{
		"type": importjob.TypeName, "label": "uploads", "authorization_id": authID, "config": map[string]any{"pattern": "*.csv"}})
	if code != 201 || job["schedule"] != nil {
		t.Fatalf("create job: %d %v", code, job)
	}
	jobID := job["id"].(string)
	// The run of the job's creation finds the folder empty and completes.
	poll.Until(t, time.Minute, "the first run to complete the job", func() bool {
		j, err := b.app.jobs.Get(ctx, "acme", jobID)
		return err == nil && j.State == jobs.StateCompleted
	})
	if runs, _ := b.app.jobs.Runs(ctx, "acme", jobID, 10); len(runs) != 1 || runs[0].Outcome != jobs.OutcomeSuccess {
		t.Fatalf("first run: %+v", runs)
	}

	work := t.TempDir()
	_ = os.WriteFile(filepath.Join(work, "users_2026-11-28.csv"), []byte(managedBrazeCSV), 0o600)
	_, port, _ := net.SplitHostPort(b.sftpAddr)
	p, _ := strconv.Atoi(port)
	openSSHPut(t, p, hostKey, username, keyFile, work, "users_2026-11-28.csv")
	closed := time.Now() // the upload closed before sftp exited
	deadline := closed.Add(2 * time.Second)
	for {
		prof, err := b.app.profiles.Lookup(ctx, "acme", "email", "two@example.com")
		if err == nil && prof.Fields["first_name"] == "Bob" {
			break
		}
		if time.Now().After(deadline) {
			runs, _ := b.app.jobs.Runs(ctx, "acme", jobID, 10)
			t.Fatalf("the uploaded rows are not in the profiles 2 s after the upload closed (last lookup: %v); runs: %+v", err, runs)
		}
		time.Sleep(10 * time.Millisecond) // polling the profiles, not synchronising
	}
	runs, _ := b.app.jobs.Runs(ctx, "acme", jobID, 10)
	if len(runs) > 0 {
		t.Logf("rows in the profiles %s after the upload closed (the run started %s after)", time.Since(closed).Round(time.Millisecond), runs[0].StartedAt.Sub(closed).Round(time.Millisecond))
	}
	if len(runs) < 2 || runs[0].Trigger != "upload" {
		t.Fatalf("the import was not started by the upload: %+v", runs)
	}
	prof, err := b.app.profiles.Lookup(ctx, "acme", "email", "one@example.com")
	if err != nil || prof.Identities["braze_id"][0] != "b1" || prof.Identities["external_id"][0] != "u1" {
		t.Fatalf("profile: %+v %v", prof, err)
	}
}

// TestManagedPartialUploadIsNotImported: a run while a file is still being
// uploaded (pkg/sftp client, file open) imports nothing; closing the file
// imports it.
func TestManagedPartialUploadIsNotImported(t *testing.T) {
	t.Parallel()
	b := setupManaged(t)
	ctx := context.Background()
	_, au := b.do(t, "POST", "/api/v1/accounts/acme/authorizations", b.admin, map[string]any{"type": "sftp_managed", "label": "uploads"})
	authID := au["id"].(string)
	username := au["config"].(map[string]any)["username"].(string)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	sshPub, _ := ssh.NewPublicKey(pub)
	authorized := string(ssh.MarshalAuthorizedKey(sshPub))
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/authorizations/"+authID+"/public_keys", b.admin, map[string]any{"public_key": authorized}); code != 201 {
		t.Fatalf("add public key: %d %v", code, out)
	}
	_, job := b.do(t, "POST", "/api/v1/accounts/acme/jobs", b.admin, map[string]any{
		"type": importjob.TypeName, "label": "uploads", "authorization_id": authID, "config": map[string]any{"pattern": "*.csv"}})
	jobID := job["id"].(string)
	runsDone := func(n int) []jobs.Run {
		var runs []jobs.Run
		deadline := time.Now().Add(time.Minute)
		for {
			runs, _ = b.app.jobs.Runs(ctx, "acme", jobID, 10)
			finished := len(runs) >= n
			for _, r := range runs {
				finished = finished && r.EndedAt != nil
			}
			if finished {
				return runs
			}
			if time.Now().After(deadline) {
				logs, _ := b.app.jobs.Logs(ctx, "acme", jobID, 10)
				t.Fatalf("%d runs not finished within a minute: %+v; log: %+v", n, runs, logs)
			}
			time.Sleep(10 * time.Millisecond) // polling the runs, not synchronising
		}
	}
	runsDone(1)

	conn, err := ssh.Dial("tcp", b.sftpAddr, &ssh.ClientConfig{User: username, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(b.serverHostKey(t)), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	f, err := client.Create("/users.csv")
	if err != nil {
		t.Fatal(err)
	}
	half := len(managedBrazeCSV) / 2
	if _, err := f.Write([]byte(managedBrazeCSV[:half])); err != nil {
		t.Fatal(err)
	}
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/jobs/"+jobID+"/run", b.admin, nil); code != 200 {
		t.Fatalf("run: %d %v", code, out)
	}
	runs := runsDone(2)
	if runs[0].Trigger == "upload" || runs[0].Counters["files_imported"] != 0 || runs[0].Counters["files_failed"] != 0 {
		t.Fatalf("a run during the upload touched the partial file: %+v", runs[0])
	}
	if _, err := b.app.profiles.Lookup(ctx, "acme", "email", "one@example.com"); err == nil {
		t.Fatal("rows of a partial upload are in the profiles")
	}
	if _, err := f.Write([]byte(managedBrazeCSV[half:])); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	runs = runsDone(3)
	if runs[0].Trigger != "upload" || runs[0].Counters["files_imported"] != 1 || runs[0].Counters["applied"] != 2 {
		t.Fatalf("the completed upload was not imported: %+v", runs[0])
	}
}

func TestSFTPDConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	base := &config.Config{SFTPAddr: ":2022", DataDir: "/data", ShutdownTimeout: 7 * time.Second,
		SFTPTrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
	env := map[string]string{"SFTP_QUOTA_BYTES": "1048576", "SFTP_QUOTA_FILES": "10", "SFTP_MAX_USER_FAILURES": "3",
		"SFTP_MAX_USER_GLOBAL_FAILURES": "30", "SFTP_MAX_ADDR_FAILURES": "9", "SFTP_FAILURE_WINDOW": "5m", "SFTP_LOCKOUT": "1h"}
	sc, err := config.LoadSFTPD(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := sftpdConfig(base, sc)
	if c.QuotaBytes != 1<<20 || c.QuotaFiles != 10 || c.MaxUserFailures != 3 || c.MaxUserGlobalFailures != 30 || c.MaxAddrFailures != 9 ||
		len(c.TrustedProxies) != 1 || c.TrustedProxies[0] != base.SFTPTrustedProxies[0] ||
		c.FailureWindow != 5*time.Minute || c.Lockout != time.Hour || c.Addr != ":2022" || c.DataDir != "/data" || c.ShutdownTimeout != 7*time.Second {
		t.Fatalf("config %+v", c)
	}
}

// TestSFTPDStopsCleanlyOnSIGTERM runs `brazesync sftpd` as a process: it
// serves SSH on SFTP_ADDR, counts a failed login in /metrics on
// SFTP_METRICS_ADDR and exits 0 on SIGTERM.
func TestSFTPDStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	_, url := redistest.DB(t)
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	p := start(t, []string{"REDIS_URL=" + url, "BRAZESYNC_MASTER_KEY=" + masterKey, "SFTP_ADDR=" + addr, "SFTP_METRICS_ADDR=" + metricsAddr}, "sftpd")
	poll.Until(t, 20*time.Second, "sftpd to start", func() bool { return strings.Contains(p.stderr.String(), "sftpd running") })
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("sftpd does not listen on %s: %v", addr, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	banner := make([]byte, 8)
	_, err = io.ReadFull(conn, banner)
	conn.Close()
	if err != nil || !strings.HasPrefix(string(banner), "SSH-2.0-") {
		t.Fatalf("no SSH banner from sftpd: %q %v", banner, err)
	}
	if _, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "acme-nobody", Auth: []ssh.AuthMethod{ssh.Password("not-the-password")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}); err == nil {
		t.Fatal("an unknown user logged in")
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("sftpd metrics: %v", err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `brazesync_sftpd_login_failures_total{method="password"`) {
		t.Errorf("the failed login is not in /metrics:\n%s", metrics)
	}
	if code := p.terminate(t); code != 0 {
		t.Errorf("sftpd exited %d; stderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "sftp server stopped") {
		t.Errorf("sftpd did not log its stop; stderr:\n%s", p.stderr)
	}
}
