package workers

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
)

func (b *importBundle) waitHealth(t *testing.T, j *jobs.Job, health, code string) *jobs.Job {
	t.Helper()
	var d *jobs.Job
	poll.Until(t, 30*time.Second, "job health "+health+" "+code, func() bool {
		d, _ = b.jobs.Describe(context.Background(), "acme", j.ID)
		if d == nil || d.Health != health {
			return false
		}
		if code == "" {
			return d.LastError == nil
		}
		return d.LastError != nil && d.LastError.Code == code
	})
	return d
}

// TestImportHealthSFTPUnreachable: a server that refuses connections
// makes the job retrying with sftp_unreachable and a hint.
func TestImportHealthSFTPUnreachable(t *testing.T) {
	t.Parallel()
	b := setupImport(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	p, _ := strconv.Atoi(port)
	authID := b.auth(t, "sftp", map[string]any{"host_key": b.sshd.HostKeyAuthorized, "port": float64(p)}, nil)
	j := b.run(t, authID, map[string]any{"file": "a.csv"})
	d := b.waitHealth(t, j, jobs.HealthRetrying, importjob.CodeUnreachable)
	if d.State != jobs.StateRunning || !strings.Contains(d.LastError.Message, "check the authorization's host and port") {
		t.Fatalf("job: %s %+v", d.State, d.LastError)
	}
	logs, _ := b.jobs.Logs(context.Background(), "acme", j.ID, 10)
	if len(logs) != 1 || logs[0].Code != importjob.CodeUnreachable || logs[0].Counters["failed"] != 1 {
		t.Fatalf("log: %+v", logs)
	}
}

// TestImportHealthHostKeyMismatch: another host key than the pinned one
// fails the job with sftp_host_key_mismatch.
func TestImportHealthHostKeyMismatch(t *testing.T) {
	t.Parallel()
	b := setupImport(t)
	authID := b.auth(t, "sftp", map[string]any{"host_key": "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, nil)
	j := b.run(t, authID, map[string]any{"file": "a.csv"})
	d := b.waitHealth(t, j, jobs.HealthFailing, importjob.CodeHostKeyMismatch)
	if !strings.Contains(d.LastError.Message, b.sshd.HostKeyFingerprint) || !strings.Contains(d.LastError.Message, "pin the new one") {
		t.Fatalf("last error: %+v", d.LastError)
	}
	poll.Until(t, 20*time.Second, "the job failed", func() bool {
		jj, _ := b.jobs.Get(context.Background(), "acme", j.ID)
		return jj.State == jobs.StateFailed
	})
}

// TestImportHealthBadFile: a refused file makes the job failing with
// import_file_failed; a run that finds nothing new keeps it; a file that
// imports makes the job ok.
func TestImportHealthBadFile(t *testing.T) {
	t.Parallel()
	b := setupImport(t)
	g := sshdtest.NewGPG(t)
	g.GenKey(t, "import@example.com", "default", "pw")
	tampered := g.Encrypt(t, []byte(brazeCSV), "import@example.com")
	tampered[len(tampered)-30] ^= 0xff
	b.sshd.WriteFile(t, "users_1.csv.gpg", tampered)
	authID := b.auth(t, "sftp_pgp", map[string]any{"host_key": b.sshd.HostKeyFingerprint},
		map[string]string{"pgp_private_key": string(g.ExportSecret(t, "import@example.com", "pw")), "pgp_passphrase": "pw"})
	label := "import"
	j, err := b.jobs.Create(context.Background(), "acme", jobs.Input{Type: "csv_import", Label: &label, AuthorizationID: &authID, Config: map[string]any{"pattern": "^users"}, Schedule: ptr("@hourly")})
	if err != nil {
		t.Fatal(err)
	}
	b.runAgain(t, j)
	d := b.waitHealth(t, j, jobs.HealthFailing, importjob.CodeFileFailed)
	if !strings.Contains(d.LastError.Message, "users_1.csv.gpg") || d.State != jobs.StateRunning {
		t.Fatalf("job: %s %+v", d.State, d.LastError)
	}
	b.runAgain(t, j)
	b.runs(t, j, 2)
	if h, _, _ := b.jobs.Health(context.Background(), "acme", j.ID); h != jobs.HealthFailing {
		t.Fatalf("a run with nothing new cleared the bad file: %s", h)
	}
	b.sshd.WriteFile(t, "users_2.csv.asc", g.Encrypt(t, []byte(brazeCSV), "import@example.com", "--armor"))
	b.runAgain(t, j)
	b.waitHealth(t, j, jobs.HealthOK, "")
}

func ptr(s string) *string { return &s }
