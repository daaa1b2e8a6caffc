package importjob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/sftpclient"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
	"github.com/redis/go-redis/v9"
)

// runBundle is a Runner on real Redis, a real profiles store and OpenSSH's
// sshd.
type runBundle struct {
	sshd     *sshdtest.Server
	rdb      redis.UniversalClient
	ns       keyspace.Namespace
	acct     string
	auths    *authorizations.Store
	jobs     *jobs.Store
	prof     *profiles.Store
	importer *csvimport.Importer
	rejected *RejectedStore
	runner   *Runner
	temp     string
	watches  *recordedWatches
}

// recordedWatches is a Watcher that records what it is asked.
type recordedWatches struct{ asked chan Watch }

func (w *recordedWatches) Watch(_ context.Context, wt Watch, _ time.Duration) error {
	select {
	case w.asked <- wt:
	default:
	}
	return nil
}

func setupRun(t *testing.T) *runBundle {
	t.Helper()
	rdb, ns := redistest.Client(t)
	loopback := egress.New(netip.MustParsePrefix("127.0.0.0/8"))
	b := &runBundle{sshd: sshdtest.Start(t, sshdtest.Options{}), rdb: rdb, ns: ns, acct: "acct-" + redistest.RandomID(), temp: t.TempDir(),
		watches: &recordedWatches{asked: make(chan Watch, 10)}}
	box, _ := secrets.NewBox(bytes.Repeat([]byte{7}, 32))
	b.auths = authorizations.New(rdb, ns, box, authorizations.NewRegistry(authorizations.SFTPType(loopback)))
	b.jobs = jobs.New(rdb, ns, b.auths, nil, (&Runner{}).JobType().Job())
	aud := audiences.New(rdb, ns, nil, audiences.Options{})
	b.prof = profiles.New(rdb, ns, aud, profiles.Options{})
	aud.UseProfiles(b.prof)
	b.importer = csvimport.NewImporter(rdb, ns, nil)
	b.rejected = NewRejectedStore(rdb, ns, time.Hour)
	b.runner = New(b.auths, b.jobs, b.importer, sftpclient.NewLimiter(rdb, ns, sftpclient.LimiterConfig{}), ProfilesUpserter(b.prof),
		Options{TempDir: b.temp, Egress: Egress{Policy: loopback}, Logger: slog.New(slog.DiscardHandler), Rejected: b.rejected, Watcher: b.watches})
	return b
}

// job creates a csv_import job with cfg on an authorization of the sshd
// whose folder is the user's home.
func (b *runBundle) job(t *testing.T, cfg map[string]any, schedule string) *jobs.Job {
	t.Helper()
	ctx := context.Background()
	label := "customer"
	a, _, err := b.auths.Create(ctx, b.acct, authorizations.Input{Type: "sftp", Label: &label,
		Config:  map[string]any{"host": b.sshd.Host, "port": float64(b.sshd.Port), "username": b.sshd.User, "host_key": b.sshd.HostKeyAuthorized},
		Secrets: map[string]string{"private_key": string(b.sshd.ClientKeyPEM)}})
	if err != nil {
		t.Fatal(err)
	}
	jl := "import"
	j, err := b.jobs.Create(ctx, b.acct, jobs.Input{Type: "csv_import", Label: &jl, AuthorizationID: &a.ID, Config: cfg, Schedule: &schedule})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// run starts a run of j and runs it.
func (b *runBundle) run(t *testing.T, j *jobs.Job) (*jobs.Run, Result, error) {
	t.Helper()
	run, err := b.jobs.StartRun(context.Background(), b.acct, j.ID, "", "manual")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.runner.Run(context.Background(), j, run)
	return run, res, err
}

func (b *runBundle) counters(t *testing.T, j *jobs.Job, run *jobs.Run) map[string]int64 {
	t.Helper()
	r, err := b.jobs.GetRun(context.Background(), b.acct, j.ID, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r.Counters
}

func (b *runBundle) logs(t *testing.T, j *jobs.Job) []jobs.Entry {
	t.Helper()
	l, err := b.jobs.Logs(context.Background(), b.acct, j.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func hasLog(logs []jobs.Entry, code, text string) bool {
	for _, e := range logs {
		if e.Code == code && strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}

func usersCSV(prefix string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("user_id,email,first_name\n")
	for i := range n {
		fmt.Fprintf(&b, "%s%d,%s%d@example.com,Name%d\n", prefix, i, prefix, i, i)
	}
	return b.Bytes()
}

// TestRejectedRowsAreKeptAndWrittenBack: a file's rejected rows are kept
// with the run and written to errors_folder on the server; exclude_pattern
// keeps matching files out.
func TestRejectedRowsAreKeptAndWrittenBack(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	ctx := context.Background()
	data := append(usersCSV("u", 20), []byte(",,nobody\nu99,u99@example.com\n")...)
	b.sshd.WriteFile(t, "in/users.csv", data)
	b.sshd.WriteFile(t, "in/users.partial.csv", usersCSV("p", 3))
	j := b.job(t, map[string]any{"folder": "in", "pattern": "users*.csv", "exclude_pattern": "*.partial.csv", "errors_folder": "errors"}, "")
	run, res, err := b.run(t, j)
	if err != nil || res.Imported != 1 || res.Failed != 0 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if c := b.counters(t, j, run); c["files_imported"] != 1 || c["applied"] != 20 || c["rejected"] != 2 {
		t.Fatalf("counters %v", c)
	}
	files, err := b.rejected.Files(ctx, b.acct, j.ID, run.ID)
	if err != nil || len(files) != 1 || files[0].Path != "in/users.csv" || files[0].Rows != 2 {
		t.Fatalf("rejected files: %+v %v", files, err)
	}
	want := "user_id,email,first_name,_line,_reason\n" +
		",,nobody,22,\"missing_identity: no identity: user_id, email all empty\"\n" +
		"u99,u99@example.com,,23,\"column_count: has 2 fields, the header has 3\"\n"
	if string(files[0].CSV) != want {
		t.Fatalf("rejected rows:\n%s\nwant\n%s", files[0].CSV, want)
	}
	written, err := os.ReadFile(filepath.Join(b.sshd.Dir, "errors", "users.csv.rejected.csv"))
	if err != nil || string(written) != want {
		t.Fatalf("errors folder file: %v\n%s", err, written)
	}
	if !hasLog(b.logs(t, j), "file_imported", "/runs/"+run.ID+"/rejected, and errors/users.csv.rejected.csv") {
		t.Fatalf("log: %+v", b.logs(t, j))
	}
	if _, err := b.prof.Lookup(ctx, b.acct, "email", "p1@example.com"); !errors.Is(err, profiles.ErrNotFound) {
		t.Fatalf("an excluded file was imported: %v", err)
	}
	if p, err := b.prof.Lookup(ctx, b.acct, "email", "u7@example.com"); err != nil || p == nil {
		t.Fatalf("imported profile: %v", err)
	}
}

// TestFailedFileIsMovedAndItsNameFreed: with on_failure move, a file that
// fails is moved to failed_folder and the log names it; a fixed file
// uploaded under the same name (same size and time even) is imported.
func TestFailedFileIsMovedAndItsNameFreed(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	ctx := context.Background()
	bad := []byte("user_id,email\n,\n,\n,\nu1,u1@example.com\n") // 3 of 4 rows rejected
	when := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	p := b.sshd.WriteFile(t, "in/users.csv", bad)
	_ = os.Chtimes(p, when, when)
	j := b.job(t, map[string]any{"folder": "in", "file": "users.csv", "on_failure": "move", "failed_folder": "failed"}, "")
	run, res, err := b.run(t, j)
	if err != nil || res.Failed != 1 || !strings.Contains(res.Failure, "too many bad rows") || !strings.Contains(res.Failure, "moved to failed/users.csv") {
		t.Fatalf("run: %+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(b.sshd.Dir, "failed", "users.csv")); err != nil {
		t.Fatalf("the failed file was not moved: %v", err)
	}
	if !hasLog(b.logs(t, j), "file_failed", "moved to failed/users.csv") {
		t.Fatalf("log: %+v", b.logs(t, j))
	}
	if files, _ := b.rejected.Files(ctx, b.acct, j.ID, run.ID); len(files) != 1 || files[0].Rows != 3 {
		t.Fatalf("the failed file's rejected rows: %+v", files)
	}
	entries, err := b.importer.Ledger.List(ctx, csvimport.Job{Account: b.acct, ID: j.ID})
	if err != nil || len(entries) != 1 || entries[0].State != csvimport.StateFailed || entries[0].MovedTo != "failed/users.csv" {
		t.Fatalf("ledger: %+v %v", entries, err)
	}
	// The fixed file, same name, same size, same time.
	fixed := []byte("user_id,email\nu1,u1@example.com\nu222,\n")
	if len(fixed) != len(bad) {
		t.Fatalf("the fixed file has %d bytes, the bad one %d", len(fixed), len(bad))
	}
	p = b.sshd.WriteFile(t, "in/users.csv", fixed)
	_ = os.Chtimes(p, when, when)
	_, res, err = b.run(t, j)
	if err != nil || res.Imported != 1 {
		t.Fatalf("the fixed file: %+v %v", res, err)
	}
	// The ledger keeps both versions: the fixed one, imported, and the
	// one that failed, with where it went.
	entries, err = b.importer.Ledger.List(ctx, csvimport.Job{Account: b.acct, ID: j.ID})
	if err != nil || len(entries) != 2 || entries[0].State != csvimport.StateImported ||
		entries[1].State != csvimport.StateFailed || entries[1].MovedTo != "failed/users.csv" {
		t.Fatalf("ledger after the fixed file: %+v %v", entries, err)
	}
	// Asking to import the path again forgets both.
	if ok, err := b.importer.Ledger.Reset(ctx, csvimport.Job{Account: b.acct, ID: j.ID}, entries[0].FileVersion); err != nil || !ok {
		t.Fatalf("reset: %v %v", ok, err)
	}
	if entries, err = b.importer.Ledger.List(ctx, csvimport.Job{Account: b.acct, ID: j.ID}); err != nil || len(entries) != 0 {
		t.Fatalf("ledger after a reset: %+v %v", entries, err)
	}
}

// TestMissingFolderWaits: a job whose folder does not exist yet logs a
// warning once a run and waits (a job without schedule on a customer's
// server polls); once the folder appears, the next look imports.
func TestMissingFolderWaits(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	j := b.job(t, map[string]any{"folder": "later", "pattern": "*.csv"}, "")
	run, err := b.jobs.StartRun(context.Background(), b.acct, j.ID, "", "manual")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res, err := b.runner.Run(context.Background(), j, run)
		var busy *BusyError
		if !errors.As(err, &busy) || busy.Delay != FolderPollDefault || res.FolderMissing != "later" {
			t.Fatalf("a missing folder: %+v %v", res, err)
		}
	}
	n := 0
	for _, e := range b.logs(t, j) {
		if e.Code == CodeFolder && e.Level == "warn" && strings.Contains(e.Message, `folder "later" does not exist yet`) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d warnings, want 1: %+v", n, b.logs(t, j))
	}
	// A scheduled job ends its run: its next run looks again.
	sched := b.job(t, map[string]any{"folder": "later", "pattern": "*.csv"}, "@every 5m")
	if _, res, err := b.run(t, sched); err != nil || res.FolderMissing != "later" {
		t.Fatalf("scheduled: %+v %v", res, err)
	}
	b.sshd.WriteFile(t, "later/a.csv", usersCSV("l", 4))
	res, err := b.runner.Run(context.Background(), j, run)
	if err != nil || res.Imported != 1 {
		t.Fatalf("once the folder exists: %+v %v", res, err)
	}
}

// TestConfigValidation: the new settings are checked with the field named.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg   map[string]any
		field string
	}{
		{map[string]any{"pattern": "*.csv", "exclude_pattern": "^(bad"}, "config.exclude_pattern"},
		{map[string]any{"pattern": "*.csv", "on_failure": "drop"}, "config.on_failure"},
		{map[string]any{"pattern": "*.csv", "on_failure": "move"}, "config.failed_folder"},
		{map[string]any{"pattern": "*.csv", "folder": "in", "on_failure": "move", "failed_folder": "in/"}, "config.failed_folder"},
		{map[string]any{"pattern": "*.csv", "folder": "/in", "errors_folder": "/in"}, "config.errors_folder"},
		{map[string]any{"pattern": "*.csv", "errors_folder": 3}, "config.errors_folder"},
	} {
		_, err := ParseConfig(c.cfg)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%v: %v, want an error on %s", c.cfg, err, c.field)
		}
	}
	c, err := ParseConfig(map[string]any{"pattern": "users_*.csv", "exclude_pattern": "re:.*_partial"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"users_1.csv": true, "users_1_partial.csv": false, "other.csv": false} {
		if c.Select.Match(name) != want {
			t.Errorf("Match(%q) = %v", name, !want)
		}
	}
	c, err = ParseConfig(map[string]any{"file": "users.csv", "exclude_pattern": "users.*"})
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := exactName(c.Select); !ok || name != "users.csv" || c.Select.Match("users.csv") {
		t.Errorf("an excluded named file: %q %v %v", name, ok, c.Select.Match("users.csv"))
	}
}

// TestErrorsFolderThatCannotBeWritten: a rejected-rows file that cannot be
// written is a warning in the job's log; the file still imports and the
// run keeps its rejected rows.
func TestErrorsFolderThatCannotBeWritten(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	b.sshd.WriteFile(t, "in/users.csv", append(usersCSV("w", 20), []byte(",,nobody\n")...))
	b.sshd.WriteFile(t, "blocked", []byte("a file where the folder should be"))
	j := b.job(t, map[string]any{"folder": "in", "file": "users.csv", "errors_folder": "blocked"}, "")
	run, res, err := b.run(t, j)
	if err != nil || res.Imported != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if !hasLog(b.logs(t, j), "rejected_file_not_written", "blocked/users.csv.rejected.csv") {
		t.Fatalf("log: %+v", b.logs(t, j))
	}
	if files, _ := b.rejected.Files(context.Background(), b.acct, j.ID, run.ID); len(files) != 1 {
		t.Fatalf("rejected rows kept: %+v", files)
	}
}

// TestStreamIdentityColumns: a file whose only identity column is one its
// stream's mapping makes an identity is imported through that stream, as
// the collect endpoint would take the same record.
func TestStreamIdentityColumns(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	ctx := context.Background()
	err := b.prof.SetMapping(ctx, b.acct, "loyalty", profiles.Mapping{Fields: []profiles.FieldMapping{
		{Source: "Member No", Field: "member_id", Identity: true},
		{Source: "points", Field: "loyalty_points", Type: profiles.TypeNumber},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.sshd.WriteFile(t, "loyalty/members.csv", []byte("member_no,points\nm1,1200\nm2,30\n"))
	j := b.job(t, map[string]any{"folder": "loyalty", "file": "members.csv", "stream": "loyalty"}, "")
	run, res, err := b.run(t, j)
	if err != nil || res.Imported != 1 || res.Failed != 0 {
		t.Fatalf("run: %+v %v; log %+v", res, err, b.logs(t, j))
	}
	if c := b.counters(t, j, run); c["applied"] != 2 || c["rejected"] != 0 {
		t.Fatalf("counters %v", c)
	}
	p, err := b.prof.Lookup(ctx, b.acct, "member_id", "m1")
	if err != nil || p.Fields["loyalty_points"] != 1200.0 {
		t.Fatalf("profile m1: %+v %v", p, err)
	}
	// The same file through braze_users, which knows no member_no, has no
	// identity column and fails.
	b.sshd.WriteFile(t, "other/members.csv", []byte("member_no,points\nm1,1200\n"))
	other := b.job(t, map[string]any{"folder": "other", "file": "members.csv"}, "")
	if _, res, _ := b.run(t, other); res.Failed != 1 || !strings.Contains(res.Failure, "no identity column") {
		t.Fatalf("braze_users run: %+v", res)
	}
}

// TestValueErrorsCountAsBadRows: a row whose value the profiles store
// refuses (a date of birth that is no date) is rejected while the file is
// staged, as bad_value, and counts toward max_bad_row_share: a file of
// such rows fails and applies none of its rows.
func TestValueErrorsCountAsBadRows(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	ctx := context.Background()
	b.sshd.WriteFile(t, "in/soon.csv", []byte("email,date_of_birth\nsoon@example.com,soon\n"))
	j := b.job(t, map[string]any{"folder": "in", "file": "soon.csv"}, "")
	run, res, err := b.run(t, j)
	if err != nil || res.Failed != 1 || res.Imported != 0 || !strings.Contains(res.Failure, "1 of 1 rows rejected") {
		t.Fatalf("run: %+v %v", res, err)
	}
	if c := b.counters(t, j, run); c["files_failed"] != 1 || c["rejected"] != 1 || c["applied"] != 0 {
		t.Fatalf("counters %v", c)
	}
	if _, err := b.prof.Lookup(ctx, b.acct, "email", "soon@example.com"); !errors.Is(err, profiles.ErrNotFound) {
		t.Fatalf("a row of a failed file was applied: %v", err)
	}
	files, err := b.rejected.Files(ctx, b.acct, j.ID, run.ID)
	if err != nil || len(files) != 1 || !strings.Contains(string(files[0].CSV), `soon@example.com,soon,2,"bad_value: `) {
		t.Fatalf("rejected rows: %+v %v", files, err)
	}

	// One bad date out of three rows: counted, under the limit, the rest
	// applied.
	b.sshd.WriteFile(t, "in2/dob.csv", []byte("email,date_of_birth\na@example.com,1990-05-17\nb@example.com,soon\nc@example.com,1991-01-02\n"))
	j2 := b.job(t, map[string]any{"folder": "in2", "file": "dob.csv", "max_bad_row_share": 0.5}, "")
	run2, res2, err := b.run(t, j2)
	if err != nil || res2.Imported != 1 {
		t.Fatalf("run: %+v %v", res2, err)
	}
	if c := b.counters(t, j2, run2); c["applied"] != 2 || c["rejected"] != 1 || c["rows_read"] != 3 {
		t.Fatalf("counters %v", c)
	}
}

// TestUploadRunsCoalesce: a run an upload asked for starts only when an
// upload waits for a listing of the folder, and a run lists it: a run
// whose upload another run imported is not recorded. While another import
// holds the job, a run waits before it is recorded. A run leaves no
// progress behind, and one that finds only files imported before says so.
func TestUploadRunsCoalesce(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	ctx := context.Background()
	b.sshd.WriteFile(t, "in/a.csv", usersCSV("a", 2))
	j := b.job(t, map[string]any{"folder": "in", "pattern": "*.csv"}, "")
	admit := func(trigger string) (bool, error) {
		t.Helper()
		return b.runner.JobType().Admit(ctx, j, trigger)
	}
	if ok, err := admit(TriggerUpload); err != nil || ok {
		t.Fatalf("an upload's run with no upload waiting: %v %v", ok, err)
	}
	if first, err := b.jobs.MarkUploaded(ctx, b.acct, j.ID); err != nil || !first {
		t.Fatalf("mark: %v %v", first, err)
	}
	if first, err := b.jobs.MarkUploaded(ctx, b.acct, j.ID); err != nil || first {
		t.Fatalf("a second upload asks for a run of its own: %v %v", first, err)
	}
	if ok, err := admit(TriggerUpload); err != nil || !ok {
		t.Fatalf("an upload's run with an upload waiting: %v %v", ok, err)
	}
	// Another run lists the folder first: it imports the upload, and the
	// upload's run is not needed.
	if _, res, err := b.run(t, j); err != nil || res.Imported != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if ok, err := admit(TriggerUpload); err != nil || ok {
		t.Fatalf("an upload's run after a run listed the folder: %v %v", ok, err)
	}
	if d, err := b.jobs.Describe(ctx, b.acct, j.ID); err != nil || d.Progress != nil {
		t.Fatalf("progress after the run: %+v %v", d.Progress, err)
	}
	run, res, err := b.run(t, j)
	if err != nil || res.Imported != 0 {
		t.Fatalf("run again: %+v %v", res, err)
	}
	if c := b.counters(t, j, run); c["files_skipped"] != 1 || len(c) != 1 {
		t.Fatalf("the counters of a run that found nothing new: %v", c)
	}
	// Another import holds the job: a run waits, unrecorded.
	lease, err := b.importer.Acquire(ctx, csvimport.Job{Account: b.acct, ID: j.ID}, "run_other")
	if err != nil {
		t.Fatal(err)
	}
	var busy *BusyError
	if ok, err := admit("manual"); ok || !errors.As(err, &busy) {
		t.Fatalf("a run while another import holds the job: %v %v", ok, err)
	}
	lease.Release()
	if ok, err := admit("manual"); err != nil || !ok {
		t.Fatalf("a run once the job is free: %v %v", ok, err)
	}
}
