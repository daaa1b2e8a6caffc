package sftpd

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func putFile(t testing.TB, c *sftp.Client, p string, data []byte) {
	t.Helper()
	f, err := c.Create(p)
	if err != nil {
		t.Fatalf("create %s: %v", p, err)
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", p, err)
	}
}

func getFile(t testing.TB, c *sftp.Client, p string) []byte {
	t.Helper()
	f, err := c.Open(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return buf.Bytes()
}

// TestPkgSFTPClientPassword logs in with the generated password and does a
// round trip with the pkg/sftp client.
func TestPkgSFTPClientPassword(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, nil)
	u := newUser(t, srv, "acct-pw")
	c := sftpClient(t, srv, u.username, ssh.Password(u.password))
	data := make([]byte, 1<<20+7)
	_, _ = rand.Read(data)
	putFile(t, c, "/in.csv", data)
	if ev := b.waitUpload(t, time.Second); ev.path != "/in.csv" || ev.authID != u.authID {
		t.Errorf("hook for %q of %q, want /in.csv of %q", ev.path, ev.authID, u.authID)
	}
	if got := getFile(t, c, "in.csv"); !bytes.Equal(got, data) {
		t.Fatal("downloaded content differs")
	}
	if err := c.Mkdir("sub"); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	if err := c.PosixRename("in.csv", "sub/moved.csv"); err != nil {
		t.Fatalf("posix rename: %v", err)
	}
	fi, err := c.Stat("sub/moved.csv")
	if err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("stat after rename: %v %v", fi, err)
	}
	if err := c.Remove("sub/moved.csv"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := c.RemoveDirectory("sub"); err != nil {
		t.Fatalf("rmdir: %v", err)
	}
	entries, err := c.ReadDir("/")
	if err != nil || len(entries) != 0 {
		t.Fatalf("root not empty after cleanup: %v %v", entries, err)
	}
}

// TestPkgSFTPClientKey logs in with a public key, and no longer once the key
// is removed.
func TestPkgSFTPClientKey(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, nil)
	u := newUser(t, srv, "acct-key")
	c := u.keyClient(t, srv)
	putFile(t, c, "k.csv", []byte("a,b\n1,2\n"))
	if got := getFile(t, c, "/k.csv"); string(got) != "a,b\n1,2\n" {
		t.Fatalf("got %q", got)
	}
	keys, err := srv.Users().ListPublicKeys(t.Context(), u.account, u.username)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListPublicKeys = %v, %v", keys, err)
	}
	if keys[0].Fingerprint != ssh.FingerprintSHA256(u.signer.PublicKey()) {
		t.Errorf("fingerprint %s, want %s", keys[0].Fingerprint, ssh.FingerprintSHA256(u.signer.PublicKey()))
	}
	if ok, err := srv.Users().RemovePublicKey(t.Context(), u.account, u.username, keys[0].Fingerprint); !ok || err != nil {
		t.Fatalf("RemovePublicKey = %v, %v", ok, err)
	}
	if conn, err := dialSSH(t, srv, u.username, ssh.PublicKeys(u.signer)); err == nil {
		_ = conn.Close()
		t.Fatal("login with a removed key succeeded")
	}
}

// TestKeyOfAnotherUserRefused: a key registered for one user does not open
// another user's account.
func TestKeyOfAnotherUserRefused(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, nil)
	a := newUser(t, srv, "acct-a")
	b := newUser(t, srv, "acct-a")
	if conn, err := dialSSH(t, srv, b.username, ssh.PublicKeys(a.signer)); err == nil {
		_ = conn.Close()
		t.Fatal("a's key logged in as b")
	}
}

// TestPathsStayInsideRoot: ../ and absolute paths resolve inside the user's
// directory; nothing is written or read outside it.
func TestPathsStayInsideRoot(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, nil)
	u := newUser(t, srv, "acct-paths")
	c := u.keyClient(t, srv)
	dir := u.dir(t, srv)

	secret := filepath.Join(b.dataDir, "secret.txt")
	if err := os.WriteFile(secret, []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(dir, secret) // ../../../secret.txt
	for _, p := range []string{rel, "/" + rel, secret, "/etc/passwd", "../../../../../../etc/passwd", "a/../../../secret.txt"} {
		if f, err := c.Open(p); err == nil {
			data, _ := io.ReadAll(f)
			_ = f.Close()
			t.Errorf("opened %q outside the root: %q", p, data)
		}
	}
	putFile(t, c, "../../../escape.txt", []byte("x"))
	putFile(t, c, "/abs.txt", []byte("y"))
	if _, err := c.Create("/tmp/abs.txt"); err == nil {
		t.Error("creating /tmp/abs.txt succeeded without a tmp directory in the root")
	}
	if _, err := os.Stat(filepath.Join(dir, "abs.txt")); err != nil {
		t.Errorf("absolute upload should land in the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.dataDir, "escape.txt")); !os.IsNotExist(err) {
		t.Error("../ upload escaped the root")
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.txt")); err != nil {
		t.Errorf("../ upload should land in the root: %v", err)
	}
	wd, err := c.Getwd()
	if err != nil || wd != "/" {
		t.Errorf("Getwd = %q, %v; want /", wd, err)
	}
	if p, err := c.RealPath("../../.."); err != nil || p != "/" {
		t.Errorf("RealPath(../../..) = %q, %v; want /", p, err)
	}
	if err := c.Rename("escape.txt", "../../../moved.txt"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "moved.txt")); err != nil {
		t.Errorf("rename target should stay in the root: %v", err)
	}
	if err := c.Remove("../../secret.txt"); err == nil {
		t.Error("removing ../../secret.txt succeeded")
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the root was touched: %v", err)
	}
}

// TestSymlinksRefused: symlink creation is refused, and a symbolic link
// placed on disk by other means cannot lead outside the root.
func TestSymlinksRefused(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, nil)
	u := newUser(t, srv, "acct-links")
	c := u.keyClient(t, srv)
	putFile(t, c, "real.csv", []byte("x"))
	for _, target := range []string{"/etc/passwd", "../../..", "real.csv"} {
		if err := c.Symlink(target, "link-"+strings.ReplaceAll(target, "/", "_")); err == nil {
			t.Errorf("Symlink(%q) succeeded", target)
		}
	}
	if err := c.Link("real.csv", "hard.csv"); err == nil {
		t.Error("hard link succeeded")
	}
	if _, err := c.ReadLink("real.csv"); err == nil {
		t.Error("ReadLink succeeded")
	}
	entries, _ := os.ReadDir(u.dir(t, srv))
	if len(entries) != 1 {
		t.Errorf("root holds %d entries, want only real.csv", len(entries))
	}

	outside := filepath.Join(b.dataDir, "outside.txt")
	_ = os.WriteFile(outside, []byte("outside"), 0o600)
	if err := os.Symlink(outside, filepath.Join(u.dir(t, srv), "planted")); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Open("planted"); err == nil {
		_ = f.Close()
		t.Error("opened a symlink leading outside the root")
	}
	putFileErr := func() error {
		f, err := c.Create("planted")
		if err != nil {
			return err
		}
		_, _ = f.Write([]byte("overwritten"))
		return f.Close()
	}
	_ = putFileErr()
	if data, _ := os.ReadFile(outside); string(data) != "outside" {
		t.Errorf("file outside the root changed through a planted link: %q", data)
	}
}

// TestOtherUsersAndAccountsUnreachable: one user cannot reach another
// user's files, in the same account or another.
func TestOtherUsersAndAccountsUnreachable(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, nil)
	a := newUser(t, srv, "acct-one")
	sameAcct := newUser(t, srv, "acct-one")
	otherAcct := newUser(t, srv, "acct-two")
	putFile(t, sameAcct.keyClient(t, srv), "mine.csv", []byte("same account"))
	putFile(t, otherAcct.keyClient(t, srv), "mine.csv", []byte("other account"))

	c := a.keyClient(t, srv)
	for _, p := range []string{
		"../" + sameAcct.username + "/mine.csv",
		"/../" + sameAcct.username + "/mine.csv",
		"../../acct-two/" + otherAcct.username + "/mine.csv",
		"/../../acct-two/" + otherAcct.username + "/mine.csv",
		"mine.csv",
	} {
		if f, err := c.Open(p); err == nil {
			data, _ := io.ReadAll(f)
			_ = f.Close()
			t.Errorf("a opened %q: %q", p, data)
		}
		if _, err := c.Stat(p); err == nil {
			t.Errorf("a can stat %q", p)
		}
	}
	if _, err := c.ReadDir("../"); err != nil {
		t.Fatalf("ReadDir(../): %v", err)
	}
	// The account's user directories are not visible from inside.
	entries, _ := c.ReadDir("/..")
	if len(entries) != 0 {
		t.Errorf("ReadDir(/..) shows %d entries, want the empty root", len(entries))
	}
	// Logging in as a user with another user's password fails.
	if conn, err := dialSSH(t, srv, sameAcct.username, ssh.Password(a.password)); err == nil {
		_ = conn.Close()
		t.Error("a's password opened another user")
	}
}

// TestShellAndExecRefused: only the sftp subsystem is served.
func TestShellAndExecRefused(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, nil)
	u := newUser(t, srv, "acct-shell")
	conn, err := dialSSH(t, srv, u.username, ssh.PublicKeys(u.signer))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Output("id"); err == nil {
		t.Error("exec succeeded")
	}
	sess2, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess2.Close()
	if err := sess2.Shell(); err == nil {
		t.Error("shell succeeded")
	}
	if _, _, err := conn.OpenChannel("direct-tcpip", nil); err == nil {
		t.Error("port forwarding channel accepted")
	}
}

// TestOpenFlags: writing without O_CREATE needs an existing file, O_EXCL
// refuses one, and a directory is not a file.
func TestOpenFlags(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, nil)
	u := newUser(t, srv, "acct-flags")
	c := u.keyClient(t, srv)
	if _, err := c.OpenFile("missing.csv", os.O_WRONLY); err == nil {
		t.Error("write-open of a missing file without O_CREATE succeeded")
	}
	putFile(t, c, "there.csv", []byte("x"))
	if _, err := c.OpenFile("there.csv", os.O_WRONLY|os.O_CREATE|os.O_EXCL); err == nil {
		t.Error("O_EXCL open of an existing file succeeded")
	}
	if err := c.Mkdir("d"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("d"); err == nil {
		t.Error("creating a file over a directory succeeded")
	}
	if _, err := c.Open("d"); err == nil {
		t.Error("opening a directory for reading succeeded")
	}
	if err := c.RemoveDirectory("there.csv"); err == nil {
		t.Error("rmdir of a file succeeded")
	}
	if err := c.Truncate("there.csv", 0); err == nil {
		t.Error("truncate through setstat succeeded")
	}
	if err := c.Chmod("there.csv", 0o777); err != nil {
		t.Errorf("chmod should be accepted and ignored: %v", err)
	}
}
