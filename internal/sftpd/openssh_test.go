package sftpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenSSHClient drives the server with OpenSSH's own sftp client: upload,
// list, download, rename, remove.
func TestOpenSSHClient(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, nil)
	u := newUser(t, srv, "acct-openssh")
	work := t.TempDir()
	payload := make([]byte, 3<<20+123)
	_, _ = rand.Read(payload)
	if err := os.WriteFile(filepath.Join(work, "users.csv"), payload, 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := runOpenSSH(t, srv, u, work, strings.Join([]string{
		"mkdir exports",
		"put users.csv exports/users.csv",
		"ls -l exports",
		"get exports/users.csv back.csv",
		"rename exports/users.csv exports/renamed.csv",
		"ls exports",
		"put users.csv gone.csv",
		"rm gone.csv",
		"ls",
	}, "\n")+"\n")
	if err != nil {
		t.Fatalf("sftp batch failed: %v\n%s", err, out)
	}

	back, err := os.ReadFile(filepath.Join(work, "back.csv"))
	if err != nil || !bytes.Equal(back, payload) {
		t.Fatalf("downloaded file differs from the upload (err %v)", err)
	}
	if !strings.Contains(out, "users.csv") || !strings.Contains(out, "renamed.csv") {
		t.Errorf("listings do not show the files:\n%s", out)
	}
	dir := u.dir(t, srv)
	onDisk, err := os.ReadFile(filepath.Join(dir, "exports", "renamed.csv"))
	if err != nil || !bytes.Equal(onDisk, payload) {
		t.Fatalf("renamed file on disk differs (err %v)", err)
	}
	for _, gone := range []string{"exports/users.csv", "gone.csv"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s still exists (err %v)", gone, err)
		}
	}
	// Two uploads, two hook calls, each with the SFTP path.
	got := map[string]bool{}
	for range 2 {
		ev := b.waitUpload(t, time.Second)
		if ev.account != u.account || ev.username != u.username || ev.authID != u.authID {
			t.Errorf("hook called for %s/%s of %q, want %s/%s of %q", ev.account, ev.username, ev.authID, u.account, u.username, u.authID)
		}
		got[ev.path] = true
	}
	if !got["/exports/users.csv"] || !got["/gone.csv"] {
		t.Errorf("hook paths = %v, want /exports/users.csv and /gone.csv", got)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "exports"))
	for _, e := range entries {
		if isPartialName(e.Name()) {
			t.Errorf("partial upload %s left behind", e.Name())
		}
	}
}

// TestOpenSSHPasswordAskpass logs in with OpenSSH's client and a password,
// given through SSH_ASKPASS, and resumes an upload with reput.
func TestOpenSSHPasswordAskpass(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, nil)
	u := newUser(t, srv, "acct-askpass")
	dir := t.TempDir()
	askpass := filepath.Join(dir, "askpass.sh")
	pwFile := filepath.Join(dir, "pw")
	_ = os.WriteFile(pwFile, []byte(u.password), 0o600)
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\ncat '"+pwFile+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	full := bytes.Repeat([]byte("0123456789"), 100000)
	_ = os.WriteFile(filepath.Join(work, "data.csv"), full, 0o600)
	// A first, partial copy is already on the server.
	if err := os.MkdirAll(u.dir(t, srv), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(u.dir(t, srv), "data.csv"), full[:300000], 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	batch := filepath.Join(dir, "batch")
	_ = os.WriteFile(batch, []byte("reput data.csv\nls -l\n"), 0o600)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Not -b: batch mode forces BatchMode=yes, which disables passwords.
	// The commands come on stdin instead.
	cmd := exec.CommandContext(ctx, "sftp", "-P", port, "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts(t, srv),
		"-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1",
		u.username+"@127.0.0.1")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	in, err := os.Open(batch)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sftp with password: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(u.dir(t, srv), "data.csv"))
	if err != nil || !bytes.Equal(got, full) {
		t.Fatalf("resumed upload: %d bytes (err %v), want %d identical bytes", len(got), err, len(full))
	}
	if n := counterValue(t, b.reg, "brazesync_sftpd_logins_total", map[string]string{"method": "password"}); n != 1 {
		t.Errorf("password logins = %v, want 1", n)
	}
}
