package workers

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/sftpclient"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

type importBundle struct {
	sshd   *sshdtest.Server
	auths  *authorizations.Store
	jobs   *jobs.Store
	prof   *profiles.Store
	client *asynq.Client
	tester importjob.Tester
}

func setupImport(t *testing.T) *importBundle {
	t.Helper()
	rdb, _ := redistest.DB(t)
	return setupImportOn(t, rdb)
}

// setupImportOn is setupImport on rdb.
func setupImportOn(t *testing.T, rdb redis.UniversalClient) *importBundle {
	t.Helper()
	return setupImportEgress(t, rdb, importjob.Egress{Policy: loopbackAllowed})
}

// setupImportEgress is setupImportOn with the runner and the tester
// reaching servers through eg (the authorization store allows loopback).
func setupImportEgress(t *testing.T, rdb redis.UniversalClient, eg importjob.Egress) *importBundle {
	t.Helper()
	ns := keyspace.Namespace("bs")
	b := &importBundle{sshd: sshdtest.Start(t, sshdtest.Options{})}
	box, _ := secrets.NewBox(bytes.Repeat([]byte{6}, 32))
	b.auths = authorizations.New(rdb, ns, box, authorizations.NewRegistry(authorizations.SFTPType(loopbackAllowed), authorizations.SFTPPGPType(loopbackAllowed)))
	b.jobs = jobs.New(rdb, ns, b.auths, nil)
	aud := audiences.New(rdb, ns, nil, audiences.Options{Logger: testLogger()})
	b.prof = profiles.New(rdb, ns, aud, profiles.Options{})
	aud.UseProfiles(b.prof)
	runner := importjob.New(b.auths, b.jobs, csvimport.NewImporter(rdb, ns, testLogger()), sftpclient.NewLimiter(rdb, ns, sftpclient.LimiterConfig{}), importjob.ProfilesUpserter(b.prof), importjob.Options{TempDir: t.TempDir(), Egress: eg, Logger: testLogger(), FolderPoll: 200 * time.Millisecond})
	types := registry(t, runner.JobType())
	b.jobs.AddType(runner.JobType().Job())
	srv := NewServer(rdb, Config{Concurrency: 2, Logger: testLogger()})
	srv.HandleJobs(b.jobs, types, testLogger())
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	b.client = asynq.NewClientFromRedisClient(rdb)
	b.tester = importjob.Tester{Auths: b.auths, Egress: eg}
	return b
}

func (b *importBundle) auth(t *testing.T, typ string, cfg map[string]any, sec map[string]string) string {
	t.Helper()
	label := typ
	c := map[string]any{"host": b.sshd.Host, "port": float64(b.sshd.Port), "username": b.sshd.User, "folder": b.sshd.Dir}
	for k, v := range cfg {
		c[k] = v
	}
	s := map[string]string{"private_key": string(b.sshd.ClientKeyPEM)}
	for k, v := range sec {
		s[k] = v
	}
	a, _, err := b.auths.Create(context.Background(), "acme", authorizations.Input{Type: typ, Label: &label, Config: c, Secrets: s})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func (b *importBundle) run(t *testing.T, authID string, cfg map[string]any) *jobs.Job {
	t.Helper()
	label := "import"
	j, err := b.jobs.Create(context.Background(), "acme", jobs.Input{Type: importjob.TypeName, Label: &label, AuthorizationID: &authID, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	b.runAgain(t, j)
	return j
}

func (b *importBundle) runAgain(t *testing.T, j *jobs.Job) {
	t.Helper()
	task, _ := tasks.NewJobRun(tasks.JobRun{Account: "acme", JobID: j.ID, Trigger: "manual"}, tasks.QueueImport)
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
}

func (b *importBundle) runs(t *testing.T, j *jobs.Job, n int) []jobs.Run {
	t.Helper()
	var runs []jobs.Run
	poll.Until(t, 20*time.Second, "the job's runs to finish", func() bool {
		runs, _ = b.jobs.Runs(context.Background(), "acme", j.ID, 10)
		if len(runs) < n {
			return false
		}
		for _, r := range runs {
			if r.EndedAt == nil {
				return false
			}
		}
		return true
	})
	return runs
}

const brazeCSV = "Braze ID,user_id,email,first_name,country\n" +
	"b1,u1,one@example.com,Ann,FR\n" +
	"b2,u2,two@example.com,Bob,DE\n"

func TestImportCSVFromCustomerServer(t *testing.T) {
	t.Parallel()
	b := setupImport(t)
	ctx := context.Background()
	b.sshd.WriteFile(t, "users_2026-11-01.csv", []byte(brazeCSV))
	b.sshd.WriteFile(t, "ignored.txt", []byte("x"))
	authID := b.auth(t, "sftp", map[string]any{"host_key": b.sshd.HostKeyAuthorized}, nil)
	j := b.run(t, authID, map[string]any{"pattern": "users_*.csv"})
	runs := b.runs(t, j, 1)
	if runs[0].Outcome != jobs.OutcomeSuccess || runs[0].Counters["files_imported"] != 1 || runs[0].Counters["applied"] != 2 {
		t.Fatalf("run: %+v", runs[0])
	}
	p, err := b.prof.Lookup(ctx, "acme", "email", "one@example.com")
	if err != nil || p.Fields["first_name"] != "Ann" || p.Identities["braze_id"][0] != "b1" || p.Identities["external_id"][0] != "u1" {
		t.Fatalf("profile: %+v %v", p, err)
	}
	// The same file again is not imported twice; a changed file is.
	b.runAgain(t, j)
	runs = b.runs(t, j, 2)
	if runs[0].Counters["files_imported"] != 0 {
		t.Fatalf("the same file version was imported twice: %+v", runs[0])
	}
	time.Sleep(1100 * time.Millisecond) // a new modification time needs the clock to move a second (SFTP's precision)
	b.sshd.WriteFile(t, "users_2026-11-01.csv", []byte(brazeCSV+"b3,u3,three@example.com,Cy,ES\n"))
	b.runAgain(t, j)
	runs = b.runs(t, j, 3)
	if runs[0].Counters["files_imported"] != 1 || runs[0].Counters["applied"] != 3 {
		t.Fatalf("a changed file was not imported again: %+v", runs[0])
	}
	// A job between runs shows no progress left from its last import.
	d, err := b.jobs.Describe(ctx, "acme", j.ID)
	if err != nil || d.Progress != nil {
		t.Fatalf("progress after the run: %+v %v", d.Progress, err)
	}
}

// TestImportNamedFile: a job naming its file finds it with one stat; a
// name that is absent, or that is a folder, imports nothing and is not an
// error (as when the folder is listed).
func TestImportNamedFile(t *testing.T) {
	t.Parallel()
	b := setupImport(t)
	b.sshd.WriteFile(t, "users.csv", []byte(brazeCSV))
	b.sshd.Mkdir(t, "adir")
	authID := b.auth(t, "sftp", map[string]any{"host_key": b.sshd.HostKeyAuthorized}, nil)
	for name, imported := range map[string]int64{"users.csv": 1, "absent.csv": 0, "adir": 0} {
		j := b.run(t, authID, map[string]any{"file": name})
		runs := b.runs(t, j, 1)
		if runs[0].Outcome != jobs.OutcomeSuccess || runs[0].Counters["files_imported"] != imported || runs[0].Counters["files_failed"] != 0 {
			t.Errorf("file %q: run %+v, want %d file imported", name, runs[0], imported)
		}
	}
}

// TestImportOnRedisCluster imports a file on a three-node Redis Cluster
// (Asynq, jobs, the ledger, the connection limiter and profiles on one
// cluster client), and the same file version is not imported twice.
func TestImportOnRedisCluster(t *testing.T) {
	t.Parallel()
	b := setupImportOn(t, redistest.Cluster(t, 3))
	b.sshd.WriteFile(t, "users.csv", []byte(brazeCSV))
	j := b.run(t, b.auth(t, "sftp", map[string]any{"host_key": b.sshd.HostKeyAuthorized}, nil), map[string]any{"file": "users.csv"})
	if runs := b.runs(t, j, 1); runs[0].Outcome != jobs.OutcomeSuccess || runs[0].Counters["applied"] != 2 {
		t.Fatalf("run: %+v", runs[0])
	}
	p, err := b.prof.Lookup(context.Background(), "acme", "email", "two@example.com")
	if err != nil || p.Fields["first_name"] != "Bob" {
		t.Fatalf("profile: %+v %v", p, err)
	}
	b.runAgain(t, j)
	if runs := b.runs(t, j, 2); runs[0].Counters["files_imported"] != 0 {
		t.Fatalf("the same file version was imported twice: %+v", runs[0])
	}
}

func TestImportPGPFile(t *testing.T) {
	t.Parallel()
	b := setupImport(t)
	g := sshdtest.NewGPG(t)
	g.GenKey(t, "import@example.com", "default", "pw")
	enc := g.Encrypt(t, []byte(brazeCSV), "import@example.com", "--armor")
	b.sshd.WriteFile(t, "users.csv.asc", enc)
	tampered := g.Encrypt(t, []byte(brazeCSV), "import@example.com")
	tampered[len(tampered)-30] ^= 0xff
	b.sshd.WriteFile(t, "users_tampered.csv.gpg", tampered)
	authID := b.auth(t, "sftp_pgp", map[string]any{"host_key": b.sshd.HostKeyFingerprint},
		map[string]string{"pgp_private_key": string(g.ExportSecret(t, "import@example.com", "pw")), "pgp_passphrase": "pw"})
	j := b.run(t, authID, map[string]any{"pattern": "^users"})
	runs := b.runs(t, j, 1)
	if runs[0].Outcome != jobs.OutcomePartial || runs[0].Counters["files_imported"] != 1 || runs[0].Counters["files_failed"] != 1 || runs[0].Counters["applied"] != 2 {
		t.Fatalf("run: %+v", runs[0])
	}
	logs, _ := b.jobs.Logs(context.Background(), "acme", j.ID, 10)
	var failed string
	for _, l := range logs {
		if l.Code == "file_failed" {
			failed = l.Message
		}
	}
	if !strings.Contains(failed, "users_tampered.csv.gpg") || !strings.Contains(failed, "no row of it was applied") {
		t.Fatalf("the tampered file's failure is not logged: %+v", logs)
	}
}

func TestImportNeedsAPinnedHostKey(t *testing.T) {
	t.Parallel()
	b := setupImport(t)
	ctx := context.Background()
	b.sshd.WriteFile(t, "a.csv", []byte(brazeCSV))
	authID := b.auth(t, "sftp", nil, nil)
	j := b.run(t, authID, map[string]any{"file": "a.csv"})
	poll.Until(t, 20*time.Second, "the job to fail", func() bool { jj, _ := b.jobs.Get(ctx, "acme", j.ID); return jj.State == jobs.StateFailed })
	logs, _ := b.jobs.Logs(ctx, "acme", j.ID, 5)
	if len(logs) == 0 || !strings.Contains(logs[0].Message, "host key is not pinned") {
		t.Fatalf("log: %+v", logs)
	}
	// Test reports the key; pinning is explicit.
	out, err := b.tester.Test(ctx, "acme", authID, false)
	if err != nil || out["host_key_fingerprint"] != b.sshd.HostKeyFingerprint || out["host_key_pinned"] != false {
		t.Fatalf("test: %v %v", out, err)
	}
	if out, err := b.tester.Test(ctx, "acme", authID, true); err != nil || out["host_key_pinned"] != true {
		t.Fatalf("pin: %v %v", out, err)
	}
	b.jobs.Resume(ctx, "acme", j.ID)
	b.runAgain(t, j)
	poll.Until(t, 20*time.Second, "the import after pinning", func() bool {
		_, err := b.prof.Lookup(ctx, "acme", "email", "two@example.com")
		return err == nil
	})
	// A mismatch shows both fingerprints.
	other := b.auth(t, "sftp", map[string]any{"host_key": "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, nil)
	_, err = b.tester.Test(ctx, "acme", other, false)
	if err == nil || !strings.Contains(err.Error(), "SHA256:AAAA") || !strings.Contains(err.Error(), b.sshd.HostKeyFingerprint) {
		t.Fatalf("mismatch: %v", err)
	}
}

// TestImportMissingFolderWaits: a job created before its folder exists
// does not fail: it logs a warning, keeps running and imports once the
// folder appears (a job without schedule on a customer's server polls).
func TestImportMissingFolderWaits(t *testing.T) {
	t.Parallel()
	b := setupImport(t)
	ctx := context.Background()
	authID := b.auth(t, "sftp", map[string]any{"host_key": b.sshd.HostKeyAuthorized, "folder": filepath.Join(b.sshd.Dir, "nope")}, nil)
	j := b.run(t, authID, map[string]any{"file": "a.csv"})
	poll.Until(t, 20*time.Second, "a warning about the folder", func() bool {
		logs, _ := b.jobs.Logs(ctx, "acme", j.ID, 5)
		return len(logs) > 0 && logs[0].Code == importjob.CodeFolder && logs[0].Level == "warn" && strings.Contains(logs[0].Message, "nope")
	})
	if jj, _ := b.jobs.Get(ctx, "acme", j.ID); jj.State != jobs.StateRunning {
		t.Fatalf("state %s, want running", jj.State)
	}
	b.sshd.WriteFile(t, "nope/a.csv", []byte(brazeCSV))
	poll.Until(t, 20*time.Second, "the file imported once the folder exists", func() bool {
		jj, _ := b.jobs.Get(ctx, "acme", j.ID)
		return jj.State == jobs.StateCompleted
	})
	runs := b.runs(t, j, 1)
	if runs[0].Outcome != jobs.OutcomeSuccess || runs[0].Counters["files_imported"] != 1 || runs[0].Counters["folder_missing"] != 1 {
		t.Fatalf("run: %+v", runs[0])
	}
}

// TestImportRunThatEndedDoesNothing: a run's task that comes back after
// another worker finished the run (Asynq's recovery of a dead worker's
// task, minutes later) imports nothing and changes neither the run nor
// the job's state.
func TestImportRunThatEndedDoesNothing(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	b := setupImportOn(t, rdb)
	ctx := context.Background()
	b.sshd.WriteFile(t, "users.csv", []byte(brazeCSV))
	authID := b.auth(t, "sftp", map[string]any{"host_key": b.sshd.HostKeyAuthorized}, nil)
	label := "import"
	j, err := b.jobs.Create(ctx, "acme", jobs.Input{Type: importjob.TypeName, Label: &label, AuthorizationID: &authID, Config: map[string]any{"file": "users.csv"}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := b.jobs.StartRun(ctx, "acme", j.ID, "", "create")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.jobs.FinishRun(ctx, "acme", j.ID, run.ID, jobs.OutcomePartial, "taken over and finished"); err != nil {
		t.Fatal(err)
	}
	task, _ := tasks.NewJobRun(tasks.JobRun{Account: "acme", JobID: j.ID, Trigger: "create", RunID: run.ID}, tasks.QueueImport)
	info, err := b.client.Enqueue(task, asynq.Retention(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	poll.Until(t, 20*time.Second, "the task to be processed", func() bool {
		ti, err := insp.GetTaskInfo(info.Queue, info.ID)
		return err == nil && ti.State == asynq.TaskStateCompleted
	})
	got, _ := b.jobs.GetRun(ctx, "acme", j.ID, run.ID)
	if got.Outcome != jobs.OutcomePartial || len(got.Counters) != 0 {
		t.Fatalf("the run changed: %+v", got)
	}
	if jj, _ := b.jobs.Get(ctx, "acme", j.ID); jj.State != jobs.StateRunning {
		t.Fatalf("the job's state changed to %s", jj.State)
	}
	if _, err := b.prof.Lookup(ctx, "acme", "email", "one@example.com"); err == nil {
		t.Fatal("the file was imported by a run that had ended")
	}
}
