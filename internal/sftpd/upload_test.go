package sftpd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/pkg/sftp"
)

// TestPartialUploadInvisible: while a file is being uploaded it is neither
// listed nor reachable under its name; on disk it has only the hidden
// temporary name; the close renames it into place and fires the hook.
func TestPartialUploadInvisible(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, nil)
	u := newUser(t, srv, "acct-partial")
	c := u.keyClient(t, srv)
	observer := u.keyClient(t, srv) // a second session, as an importer would be

	f, err := c.Create("big.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("x"), 100000)); err != nil {
		t.Fatal(err)
	}
	entries, err := observer.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("listing during upload shows %v", entries)
	}
	if _, err := observer.Stat("big.csv"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat during upload: %v, want not exist", err)
	}
	onDisk, _ := os.ReadDir(u.dir(t, srv))
	if len(onDisk) != 1 || !isPartialName(onDisk[0].Name()) {
		t.Fatalf("on disk during upload: %v, want one hidden partial file", onDisk)
	}
	hidden := onDisk[0].Name()
	if _, err := observer.Stat(hidden); err == nil {
		t.Error("the hidden partial name is reachable over SFTP")
	}
	if _, err := observer.Create(hidden); err == nil {
		t.Error("a client can create a file with the reserved partial prefix")
	}
	select {
	case ev := <-b.uploads:
		t.Fatalf("hook fired before close: %v", ev)
	default:
	}

	closed := time.Now()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ev := b.waitUpload(t, time.Second)
	if ev.path != "/big.csv" {
		t.Errorf("hook path %q", ev.path)
	}
	if d := time.Since(closed); d > time.Second {
		t.Errorf("hook fired %s after close, want within 1s", d)
	}
	fi, err := observer.Stat("big.csv")
	if err != nil || fi.Size() != 100000 {
		t.Fatalf("after close: %v %v", fi, err)
	}
	onDisk, _ = os.ReadDir(u.dir(t, srv))
	if len(onDisk) != 1 || onDisk[0].Name() != "big.csv" {
		t.Errorf("on disk after close: %v", onDisk)
	}
}

// TestInterruptedUploadRemoved: a connection that drops mid-upload leaves
// no file, neither under its name nor as a partial.
func TestInterruptedUploadRemoved(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, nil)
	u := newUser(t, srv, "acct-drop")
	conn, err := dialSSH(t, srv, u.username, sshKey(u))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create("half.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("y"), 50000)); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close() // the client vanishes without closing the file
	_ = c.Close()
	poll.Until(t, 5*time.Second, "partial upload removed", func() bool {
		entries, _ := os.ReadDir(u.dir(t, srv))
		return len(entries) == 0
	})
	select {
	case ev := <-b.uploads:
		t.Fatalf("hook fired for an interrupted upload: %v", ev)
	default:
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_uploads_total", map[string]string{"outcome": "aborted"}); got != 1 {
		t.Errorf("uploads_total{aborted} = %v, want 1", got)
	}
}

// TestQuotaBytes: a write past the byte quota fails with a clear message
// and the upload is not kept; the user can still upload within the quota.
func TestQuotaBytes(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) { c.QuotaBytes = 200000 })
	u := newUser(t, srv, "acct-qbytes")
	c := u.keyClient(t, srv)
	putFile(t, c, "first.csv", bytes.Repeat([]byte("a"), 150000))

	f, err := c.Create("second.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.Write(bytes.Repeat([]byte("b"), 100000))
	cerr := f.Close()
	err = errors.Join(werr, cerr)
	var status *sftp.StatusError
	if !errors.As(err, &status) || !strings.Contains(status.Error(), "quota exceeded") {
		t.Fatalf("over-quota upload: %v, want an SFTP status saying quota exceeded", err)
	}
	if _, err := c.Stat("second.csv"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("over-quota file kept: %v", err)
	}
	entries, _ := os.ReadDir(u.dir(t, srv))
	if len(entries) != 1 {
		t.Errorf("on disk: %v, want only first.csv", entries)
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_quota_exceeded_total", map[string]string{"kind": "bytes"}); got < 1 {
		t.Errorf("quota_exceeded_total{bytes} = %v", got)
	}
	putFile(t, c, "small.csv", bytes.Repeat([]byte("c"), 40000))
	// Replacing a file counts its new size, not old plus new.
	putFile(t, c, "first.csv", bytes.Repeat([]byte("d"), 155000))
}

// TestQuotaFiles: creating more files or directories than allowed fails
// with a clear message; after removing one, there is room again.
func TestQuotaFiles(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, func(c *Config) { c.QuotaFiles = 3 })
	u := newUser(t, srv, "acct-qfiles")
	c := u.keyClient(t, srv)
	putFile(t, c, "1.csv", []byte("1"))
	if err := c.Mkdir("dir"); err != nil {
		t.Fatal(err)
	}
	putFile(t, c, "dir/2.csv", []byte("2"))
	_, err := c.Create("3.csv")
	if err == nil || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("fourth file: %v, want quota exceeded", err)
	}
	if err := c.Mkdir("dir2"); err == nil || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("mkdir past quota: %v, want quota exceeded", err)
	}
	// Overwriting an existing file needs no new file.
	putFile(t, c, "1.csv", []byte("one"))
	if err := c.Remove("1.csv"); err != nil {
		t.Fatal(err)
	}
	putFile(t, c, "3.csv", []byte("3"))
	if _, err := os.Stat(filepath.Join(u.dir(t, srv), "3.csv")); err != nil {
		t.Errorf("3.csv after freeing room: %v", err)
	}
}

// TestOpenSSHQuotaExceeded: OpenSSH's client reports a failure when the
// upload does not fit.
func TestOpenSSHQuotaExceeded(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, func(c *Config) { c.QuotaBytes = 1 << 20 })
	u := newUser(t, srv, "acct-qssh")
	work := t.TempDir()
	_ = os.WriteFile(filepath.Join(work, "big.csv"), bytes.Repeat([]byte("z"), 2<<20), 0o600)
	out, err := runOpenSSH(t, srv, u, work, "put big.csv\n")
	if err == nil {
		t.Fatalf("over-quota put succeeded:\n%s", out)
	}
	entries, _ := os.ReadDir(u.dir(t, srv))
	if len(entries) != 0 {
		t.Errorf("left on disk: %v", entries)
	}
}

// TestQuotaSeesFilesRemovedOnDisk: files removed behind the server's back
// (an importer's after_import clean-up) free the quota again.
func TestQuotaSeesFilesRemovedOnDisk(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, func(c *Config) { c.QuotaBytes = 100000 })
	u := newUser(t, srv, "acct-qdisk")
	c := u.keyClient(t, srv)
	putFile(t, c, "a.csv", bytes.Repeat([]byte("a"), 90000))
	f, err := c.Create("b.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("b"), 50000)); err == nil {
		t.Fatal("write past the quota succeeded")
	}
	_ = f.Close()
	if err := os.Remove(filepath.Join(u.dir(t, srv), "a.csv")); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "upload fits after the file was removed on disk", func() bool {
		f, err := c.Create("b.csv")
		if err != nil {
			return false
		}
		_, werr := f.Write(bytes.Repeat([]byte("b"), 50000))
		return errors.Join(werr, f.Close()) == nil
	})
}
