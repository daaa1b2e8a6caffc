package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// rejectedCSV downloads a run's rejected rows and parses them.
func rejectedCSV(t *testing.T, a *Account, job, run string) (string, [][]string) {
	t.Helper()
	r := a.Call(t, "GET", "/jobs/"+job+"/runs/"+run+"/rejected", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("rejected rows: %d %s: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatalf("the rejected rows are not CSV: %v\n%s", err, r.Body)
	}
	return string(r.Body), recs
}

// TestImportRejectedRowsAndExclude: a file's rejected rows come back from
// the run as CSV (its columns, the fields past them in _extra_N, _line,
// _reason) and, with errors_folder, on
// the customer's server; a file that exclude_pattern matches is never
// imported.
func TestImportRejectedRowsAndExclude(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		s := startCustomerSFTP(t)
		a := e.NewAccount(t)
		prefix := "rej" + randomHex(3) + "-"
		data := append(brazeCSV(prefix, 30), []byte(",,,Nobody,FR\nb-x,"+prefix+"x,"+prefix+"x@example.com,Extra,FR,oops\n")...)
		s.write(t, "users_"+prefix+".csv", data)
		s.write(t, "users_"+prefix+".partial.csv", brazeCSV(prefix+"p", 5))
		auth := sftpAuth(t, a, s, "sftp", map[string]any{})
		job := a.Call(t, "POST", "/jobs", map[string]any{
			"type": "csv_import", "label": "import with options", "authorization_id": auth,
			"config": map[string]any{"folder": s.Dir, "pattern": "users_" + prefix + "*.csv", "exclude_pattern": "*.partial.csv",
				"errors_folder": filepath.Join(s.Dir, "errors")},
		}).Expect(t, 201).Str("id")
		run := waitRunEnded(t, a, job, 1)
		if run.Str("outcome") != "success" || run.Num("counters.files_imported") != 1 || run.Num("counters.applied") != 30 || run.Num("counters.rejected") != 2 {
			t.Fatalf("run = %v", run)
		}
		body, recs := rejectedCSV(t, a, job, run.Str("id"))
		want := [][]string{
			{"Braze ID", "user_id", "email", "first_name", "country", "_extra_1", "_line", "_reason"},
			{"", "", "", "Nobody", "FR", "", "32", "missing_identity: no identity: Braze ID, user_id, email all empty"},
			{"b-x", prefix + "x", prefix + "x@example.com", "Extra", "FR", "oops", "33", "column_count: has 6 fields, the header has 5"},
		}
		if fmt.Sprint(recs) != fmt.Sprint(want) {
			t.Fatalf("rejected rows:\n%q\nwant\n%q", recs, want)
		}
		written, err := os.ReadFile(filepath.Join(s.Dir, "errors", "users_"+prefix+".csv.rejected.csv"))
		if err != nil || string(written) != body {
			t.Fatalf("errors folder: %v\n%s", err, written)
		}
		if r := a.Call(t, "GET", "/profiles/email/"+prefix+"p1@example.com", nil); r.Status != 404 {
			t.Fatalf("a file exclude_pattern matches was imported: %d %s", r.Status, r.Body)
		}
		if files := ledger(t, a, job); len(files) != 1 || !strings.HasSuffix(files[0].Str("path"), "users_"+prefix+".csv") || files[0].Str("run_id") != run.Str("id") {
			t.Fatalf("ledger: %v", jsonString(files))
		}
	})
}

// TestManagedFolderCreatedLater: an sftp_managed job created before its
// folder exists does not fail; it waits, and the upload into the folder,
// once created, starts it. A file that fails moves to failed_folder, with
// its rejected rows in errors_folder, both on the managed server.
func TestManagedFolderCreatedLater(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		au := a.Call(t, "POST", "/authorizations", map[string]any{"type": "sftp_managed", "label": "uploads"}).Expect(t, 201)
		job := a.Call(t, "POST", "/jobs", map[string]any{
			"type": "csv_import", "label": "later", "authorization_id": au.Str("id"),
			"config": map[string]any{"folder": "incoming", "pattern": "*.csv", "on_failure": "move", "failed_folder": "failed", "errors_folder": "errors"},
		}).Expect(t, 201).Str("id")
		first := waitRunEnded(t, a, job, 1)
		if first.Str("outcome") != "success" || first.Num("counters.folder_missing") != 1 {
			t.Fatalf("the run before the folder exists: %v", first)
		}
		if j := a.Job(t, job); j.Str("state") == "failed" {
			t.Fatalf("the job failed for a folder that does not exist yet: %v", j)
		}
		found := false
		for _, v := range a.Call(t, "GET", "/jobs/"+job+"/logs", nil).Expect(t, 200).Arr("data") {
			entry := J(v.(map[string]any))
			found = found || (entry.Str("code") == "sftp_folder_missing" && entry.Str("level") == "warn")
		}
		if !found {
			t.Fatalf("no warning about the folder in the job's log")
		}

		prefix := "ml" + randomHex(3) + "-"
		dir := t.TempDir()
		bad := append([]byte("Braze ID,user_id,email,first_name,country\n"), []byte(strings.Repeat(",,,Nobody,FR\n", 3))...)
		if err := os.WriteFile(filepath.Join(dir, "bad.csv"), bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "users.csv"), brazeCSV(prefix, 10), 0o600); err != nil {
			t.Fatal(err)
		}
		host, port, fp, user, pw := au.Str("config.host"), int(au.Num("config.port")), au.Str("config.host_key"), au.Str("config.username"), au.Str("shown_once.password")
		openSSHBatch(t, host, port, fp, user, pw, dir, "mkdir incoming\nput bad.csv incoming/bad.csv\nput users.csv incoming/users.csv\n")
		p := waitProfile(t, a, "email", prefix+"3@example.com")
		if p.Str("fields.first_name") != "Name3" {
			t.Errorf("imported profile = %v", p)
		}
		var listing string
		eventually(t, 30*time.Second, "the failed file moved and its rejected rows written", func() (bool, string) {
			listing = openSSHBatch(t, host, port, fp, user, pw, dir, "ls -1 failed\nls -1 errors\nls -1 incoming\n")
			return strings.Contains(listing, "failed/bad.csv") && strings.Contains(listing, "errors/bad.csv.rejected.csv") &&
				!strings.Contains(listing, "incoming/bad.csv"), listing
		})
		openSSHBatch(t, host, port, fp, user, pw, dir, "get errors/bad.csv.rejected.csv rejected.csv\n")
		got, err := os.ReadFile(filepath.Join(dir, "rejected.csv"))
		if err != nil || !strings.Contains(string(got), "Braze ID,user_id,email,first_name,country,_line,_reason\n,,,Nobody,FR,2,") {
			t.Fatalf("the rejected rows on the managed server: %v\n%s", err, got)
		}
		failed := false
		for _, v := range a.Call(t, "GET", "/jobs/"+job+"/logs", nil).Expect(t, 200).Arr("data") {
			entry := J(v.(map[string]any))
			failed = failed || (entry.Str("code") == "file_failed" && strings.Contains(entry.Str("message"), "moved to failed/bad.csv"))
		}
		if !failed {
			t.Errorf("the job's log does not say where the failed file went")
		}
	})
}

// TestImportTakenOverAfterWorkerKilled: a worker killed with SIGKILL while
// applying a 200,000-row file leaves its import to another worker, which
// takes it over within 30 s and applies the file once: the run's counters
// are those of one import, the change log has no change twice, no staging
// file is left, and the job and its run agree. Procs mode only: `brazesync
// dev` is one process, with no other worker to take over.
func TestImportTakenOverAfterWorkerKilled(t *testing.T) {
	t.Parallel()
	e := Start(t, Procs, Options{Workers: 1})
	s := startCustomerSFTP(t)
	a := e.NewAccount(t)
	const rows = 200000
	prefix := "k" + randomHex(3) + "-"
	s.write(t, "big.csv", brazeCSV(prefix, rows))
	auth := sftpAuth(t, a, s, "sftp", map[string]any{})
	job := a.Call(t, "POST", "/jobs", map[string]any{
		"type": "csv_import", "label": "big", "authorization_id": auth,
		"config": map[string]any{"folder": s.Dir, "file": "big.csv"},
	}).Expect(t, 201).Str("id")
	// Applying has begun once an early row's profile is readable. The job's
	// progress is written once a second, and on a quiet machine the whole
	// file applies in about that time, so the profile is the signal, read
	// as often as the API answers.
	early := fmt.Sprintf("/profiles/email/%s%d@example.com", prefix, 2000)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if r := a.Call(t, "GET", early, nil); r.Status == 200 {
			break
		} else if r.Status != 404 {
			t.Fatalf("reading an early row's profile: %d %s", r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not start applying the file within 2 minutes: %v", jsonString(a.Job(t, job)))
		}
	}
	if err := e.Proc("worker-1").Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if j := a.Job(t, job); j.Str("last_run.ended_at") != "" {
		t.Fatalf("the import ended before the worker was killed: %v", jsonString(j))
	}
	if _, err := e.Proc("worker-1").Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	e.Spawn(t, "worker-2", nil, "worker")
	var run J
	eventually(t, 45*time.Second, "the import to complete on the other worker", func() (bool, string) {
		rs := runs(t, a, job)
		if len(rs) == 0 {
			return false, "no run"
		}
		run = rs[0]
		return run.Str("ended_at") != "", jsonString(rs)
	})
	t.Logf("completed %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	if rs := runs(t, a, job); len(rs) != 1 {
		t.Errorf("%d runs, want the one run taken over: %v", len(rs), jsonString(rs))
	}
	if run.Str("outcome") != "success" || run.Num("counters.files_imported") != 1 || run.Num("counters.rows_read") != rows ||
		run.Num("counters.applied") != rows || run.Num("counters.rejected") != 0 {
		t.Errorf("run = %v", jsonString(run))
	}
	j := a.Job(t, job)
	if j.Str("state") != "completed" || j.Str("last_run.id") != run.Str("id") || j.Str("last_run.outcome") != "success" {
		t.Errorf("job = %v", jsonString(j))
	}
	if files := ledger(t, a, job); len(files) != 1 || files[0].Str("state") != "imported" || files[0].Num("applied") != rows {
		t.Errorf("ledger = %v", jsonString(files))
	}
	taken := false
	for _, v := range a.Call(t, "GET", "/jobs/"+job+"/logs", nil).Expect(t, 200).Arr("data") {
		entry := J(v.(map[string]any))
		taken = taken || entry.Str("code") == "import_taken_over"
	}
	if !taken {
		t.Errorf("the job's log does not say the import was taken over")
	}
	left, _ := filepath.Glob(filepath.Join(e.DataDir, "temp", "csvimport-*"))
	if len(left) != 0 {
		t.Errorf("staging files left: %v", left)
	}
	for _, i := range []int{0, rows / 2, rows - 1} {
		waitProfile(t, a, "email", fmt.Sprintf("%s%d@example.com", prefix, i))
	}
	noChangeTwice(t, e, a.ID)
}

// noChangeTwice reads the account's change log from Redis (Procs mode: no
// API lists it whole) and fails on a change recorded twice: the same
// profile entering or leaving the same audience again.
func noChangeTwice(t *testing.T, e *Env, account string) {
	t.Helper()
	opt, err := redis.ParseURL(e.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	// The change log is the stream bs:{account}:changelog (docs/
	// architecture.md): each entry names its audiences (a), profiles (p),
	// comma-separated, and the change (op).
	key := "bs:{" + account + "}:changelog"
	ctx := context.Background()
	seen := map[string]bool{}
	after := "0-0"
	for {
		msgs, err := rdb.XRangeN(ctx, key, "("+after, "+", 5000).Result()
		if err != nil {
			t.Fatalf("reading the change log: %v", err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			auds, _ := m.Values["a"].(string)
			profs, _ := m.Values["p"].(string)
			op, _ := m.Values["op"].(string)
			for _, p := range strings.Split(profs, ",") {
				for _, a := range strings.Split(auds, ",") {
					k := a + "/" + p + "/" + op
					if seen[k] {
						t.Fatalf("change %s recorded twice", k)
					}
					seen[k] = true
				}
			}
		}
		after = msgs[len(msgs)-1].ID
	}
	if len(seen) == 0 {
		t.Fatal("the change log is empty")
	}
}

// TestImportValueErrorsCountAsBadRows: a row whose value does not fit its
// field (a date of birth that is no date) is rejected as bad_value before
// any row is applied, and counts toward max_bad_row_share: a file of only
// such rows fails, applies nothing and makes the job failing; one such row
// out of three, under a limit of one half, is counted and the rest applied.
func TestImportValueErrorsCountAsBadRows(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		s := startCustomerSFTP(t)
		a := e.NewAccount(t)
		prefix := "dob" + randomHex(3) + "-"
		s.write(t, prefix+"soon.csv", []byte("email,date_of_birth\n"+prefix+"soon@example.com,soon\n"))
		s.write(t, prefix+"three.csv", []byte("email,date_of_birth\n"+prefix+"a@example.com,1990-05-17\n"+
			prefix+"b@example.com,soon\n"+prefix+"c@example.com,1991-01-02\n"))
		auth := sftpAuth(t, a, s, "sftp", map[string]any{})
		bad := a.Call(t, "POST", "/jobs", map[string]any{
			"type": "csv_import", "label": "all bad", "authorization_id": auth,
			"config": map[string]any{"folder": s.Dir, "file": prefix + "soon.csv"},
		}).Expect(t, 201).Str("id")
		run := waitRunEnded(t, a, bad, 1)
		if run.Str("outcome") != "partial" || run.Num("counters.files_failed") != 1 || run.Num("counters.files_imported") != 0 ||
			run.Num("counters.rejected") != 1 || run.Num("counters.applied") != 0 {
			t.Fatalf("run = %v", run)
		}
		if j := a.Job(t, bad); j.Str("health") != "failing" || j.Str("last_error.code") != "import_file_failed" ||
			!strings.Contains(j.Str("last_error.message"), "1 of 1 rows rejected") {
			t.Fatalf("job = %v", j)
		}
		_, recs := rejectedCSV(t, a, bad, run.Str("id"))
		if len(recs) != 2 || recs[1][0] != prefix+"soon@example.com" || !strings.HasPrefix(recs[1][3], "bad_value: ") {
			t.Fatalf("rejected rows: %q", recs)
		}
		if r := a.Call(t, "GET", "/profiles/email/"+prefix+"soon@example.com", nil); r.Status != 404 {
			t.Fatalf("a row of a failed file was applied: %d %s", r.Status, r.Body)
		}

		some := a.Call(t, "POST", "/jobs", map[string]any{
			"type": "csv_import", "label": "one bad", "authorization_id": auth,
			"config": map[string]any{"folder": s.Dir, "file": prefix + "three.csv", "max_bad_row_share": 0.5},
		}).Expect(t, 201).Str("id")
		run = waitRunEnded(t, a, some, 1)
		if run.Str("outcome") != "success" || run.Num("counters.files_imported") != 1 || run.Num("counters.applied") != 2 ||
			run.Num("counters.rejected") != 1 {
			t.Fatalf("run = %v", run)
		}
		files := ledger(t, a, some)
		if len(files) != 1 || files[0].Num("applied") != 2 || files[0].Num("rejected") != 1 {
			t.Fatalf("ledger: %v", jsonString(files))
		}
	})
}

// TestManagedBurstUploadLeavesNoEmptyRun: files uploaded together in one SFTP
// session to a managed server are imported without runs left waiting
// with nothing in them: every run after the upload imported files, all
// five files are imported, the job's last run is one that imported, and
// the completed job shows no progress left from an import.
func TestManagedBurstUploadLeavesNoEmptyRun(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		au := a.Call(t, "POST", "/authorizations", map[string]any{"type": "sftp_managed", "label": "uploads"}).Expect(t, 201)
		host, port, fp, user, pw := au.Str("config.host"), int(au.Num("config.port")), au.Str("config.host_key"), au.Str("config.username"), au.Str("shown_once.password")
		dir := t.TempDir()
		openSSHBatch(t, host, port, fp, user, pw, dir, "mkdir incoming\n")
		job := a.Call(t, "POST", "/jobs", map[string]any{
			"type": "csv_import", "label": "burst", "authorization_id": au.Str("id"),
			"config": map[string]any{"folder": "incoming", "pattern": "*.csv"},
		}).Expect(t, 201).Str("id")
		waitRunEnded(t, a, job, 1)
		before := len(runs(t, a, job))

		prefix := "bu" + randomHex(3) + "-"
		var cmds strings.Builder
		for i := range 5 {
			name := fmt.Sprintf("part%d.csv", i)
			if err := os.WriteFile(filepath.Join(dir, name), brazeCSV(fmt.Sprintf("%s%d-", prefix, i), 20), 0o600); err != nil {
				t.Fatal(err)
			}
			cmds.WriteString("put " + name + " incoming/" + name + "\n")
		}
		openSSHBatch(t, host, port, fp, user, pw, dir, cmds.String())

		var after []J
		eventually(t, 60*time.Second, "the five files imported and every run ended", func() (bool, string) {
			imported := 0
			for _, f := range ledger(t, a, job) {
				if f.Str("state") == "imported" {
					imported++
				}
			}
			rs := runs(t, a, job)
			after = rs[:len(rs)-before]
			for _, r := range rs {
				if r.Str("ended_at") == "" {
					return false, jsonString(rs)
				}
			}
			return imported == 5, jsonString(rs)
		})
		total := 0.0
		for _, r := range after {
			if r.Num("counters.files_imported") == 0 {
				t.Errorf("a run after the upload imported nothing: %v\nruns: %s", r, jsonString(after))
			}
			total += r.Num("counters.files_imported")
		}
		if total != 5 || len(after) == 0 {
			t.Errorf("the runs after the upload imported %v files, want 5: %s", total, jsonString(after))
		}
		j := a.Job(t, job)
		if j.Str("state") != "completed" || j.Num("last_run.counters.files_imported") == 0 || j["progress"] != nil {
			t.Errorf("job = %s", jsonString(j))
		}
	})
}
