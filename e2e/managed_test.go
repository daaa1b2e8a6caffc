package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// openSSHPut uploads files with OpenSSH's sftp as a user would: the host
// key fetched with ssh-keyscan and checked against the fingerprint the
// API gave, then the password typed in (through SSH_ASKPASS).
func openSSHPut(t *testing.T, host string, port int, fingerprint, user, password, dir string, names ...string) {
	t.Helper()
	var cmds strings.Builder
	for _, n := range names {
		cmds.WriteString("put " + n + "\n")
	}
	openSSHBatch(t, host, port, fingerprint, user, password, dir, cmds.String())
}

// openSSHBatch runs sftp commands (one a line) from dir with OpenSSH's
// sftp, logged in as openSSHPut does, and returns what sftp printed.
func openSSHBatch(t *testing.T, host string, port int, fingerprint, user, password, dir, cmds string) string {
	t.Helper()
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	scan, err := exec.CommandContext(ctx, "ssh-keyscan", "-p", strconv.Itoa(port), "-t", "ed25519", host).Output()
	if err != nil {
		t.Fatalf("ssh-keyscan: %v", err)
	}
	known := filepath.Join(work, "known_hosts")
	if err := os.WriteFile(known, scan, 0o600); err != nil {
		t.Fatal(err)
	}
	fp, err := exec.CommandContext(ctx, "ssh-keygen", "-l", "-f", known).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	if !strings.Contains(string(fp), fingerprint) {
		t.Fatalf("the server's host key %s is not the fingerprint the API gave (%s)", fp, fingerprint)
	}
	askpass := filepath.Join(work, "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\nprintf '%s\\n' \"$E2E_PASSWORD\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "sftp", "-P", strconv.Itoa(port), "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+known, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1", "-o", "LogLevel=ERROR", user+"@"+host)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(cmds)
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none", "E2E_PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sftp %q: %v\n%s", cmds, err, out)
	}
	return string(out)
}

// TestManagedSFTP: an sftp_managed authorization provisions a user on
// brazesync's own SFTP server; a file uploaded with OpenSSH's sftp and the
// password shown once becomes profiles, without waiting for a schedule.
func TestManagedSFTP(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		au := a.Call(t, "POST", "/authorizations", map[string]any{"type": "sftp_managed", "label": "Braze uploads"}).Expect(t, 201)
		password := au.Str("shown_once.password")
		if password == "" {
			t.Fatalf("no password shown once: %v", au)
		}
		if strings.Contains(string(a.Call(t, "GET", "/authorizations/"+au.Str("id"), nil).Body), password) {
			t.Fatalf("the password is shown again")
		}
		a.Call(t, "POST", "/jobs", map[string]any{
			"type": "csv_import", "label": "uploads", "authorization_id": au.Str("id"),
			"config": map[string]any{"pattern": "*.csv"},
		}).Expect(t, 201)

		prefix := "m" + randomHex(3) + "-"
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "users.csv"), brazeCSV(prefix, 10), 0o600); err != nil {
			t.Fatal(err)
		}
		port := int(au.Num("config.port"))
		openSSHPut(t, au.Str("config.host"), port, au.Str("config.host_key"), au.Str("config.username"), password, dir, "users.csv")
		p := waitProfile(t, a, "email", prefix+"3@example.com")
		if p.Str("fields.first_name") != "Name3" {
			t.Errorf("imported profile = %v", p)
		}
	})
}
