package sftpd

import (
	"bytes"
	"crypto/rand"
	"os"
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
		if ev.account != u.account || ev.username != u.username {
			t.Errorf("hook called for %s/%s, want %s/%s", ev.account, ev.username, u.account, u.username)
		}
		got[ev.path] = true
	}
	if !got["/exports/users.csv"] || !got["/gone.csv"] {
		t.Errorf("hook paths = %v, want /exports/users.csv and /gone.csv", got)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "exports"))
	for _, e := range entries {
		if IsPartialUpload(e.Name()) {
			t.Errorf("partial upload %s left behind", e.Name())
		}
	}
}
