package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
)

func TestImportFilesLedger(t *testing.T) {
	t.Parallel()
	var g ImportFiles
	b := setup(t, &g)
	ledger := csvimport.NewLedger(b.rdb, keyspace.Namespace(b.ns))
	g = ImportFiles{Accounts: b.accounts, Jobs: b.jobs, Ledger: ledger, JobType: "csv_import"}
	b.jobs.AddType(jobs.Type{Name: "csv_import"})
	toks := b.account(t, "acme")
	_, j := b.do(t, "POST", "/api/v1/accounts/acme/jobs", toks["admin"], map[string]any{"type": "csv_import", "label": "imp"})
	id := j["id"].(string)
	v := csvimport.FileVersion{Path: "/in/a.csv", Size: 10, ModTime: time.Unix(1700000000, 0)}
	ledger.Mark(context.Background(), csvimport.Job{Account: "acme", ID: id}, csvimport.Entry{FileVersion: v, State: csvimport.StateFailed, Error: "too many bad rows"})
	code, out := b.do(t, "GET", "/api/v1/accounts/acme/jobs/"+id+"/files", toks["read"], nil)
	if code != 200 || len(out["data"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, out)
	}
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/jobs/"+id+"/files/retry", toks["read"], map[string]any{"path": "/in/a.csv"}); code != 403 {
		t.Fatalf("read token retried: %d %v", code, out)
	}
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/jobs/"+id+"/files/retry", toks["data_manager"], map[string]any{"path": "/in/b.csv"}); code != 404 {
		t.Fatalf("unknown path: %d %v", code, out)
	}
	if code, out := b.do(t, "POST", "/api/v1/accounts/acme/jobs/"+id+"/files/retry", toks["data_manager"], map[string]any{"path": "/in/a.csv"}); code != 200 || out["reset"] != 1.0 {
		t.Fatalf("retry: %d %v", code, out)
	}
	if _, out := b.do(t, "GET", "/api/v1/accounts/acme/jobs/"+id+"/files", toks["read"], nil); len(out["data"].([]any)) != 0 {
		t.Fatalf("entry still there: %v", out)
	}
	// Jobs of other types keep no ledger.
	_, other := b.do(t, "POST", "/api/v1/accounts/acme/jobs", toks["admin"], map[string]any{"type": "noop", "label": "other"})
	if code, out := b.do(t, "GET", "/api/v1/accounts/acme/jobs/"+other["id"].(string)+"/files", toks["read"], nil); code != 422 || errCode(out) != "not_import" {
		t.Fatalf("files of a noop job: %d %v", code, out)
	}
}

// rawGet sends a GET with tok and returns the status, the content type
// and the body.
func rawGet(t *testing.T, b *bundle, path, tok string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", b.http.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
}

// stagedRejections stages data and returns its rejected rows.
func stagedRejections(t *testing.T, name, data string) *csvimport.RejectedRows {
	t.Helper()
	st, err := csvimport.Stage(context.Background(), strings.NewReader(data), name, int64(len(data)), csvimport.Config{TempDir: t.TempDir(), MaxBadRowShare: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Report.RejectedRows
}

// TestRejectedRowsRoute: a run's rejected rows come back as CSV with the
// file's columns, _line and _reason; a run with several files adds _file,
// and ?file= picks one. A run that rejected nothing has an empty file; one
// whose rows are no longer kept says so.
func TestRejectedRowsRoute(t *testing.T) {
	t.Parallel()
	var g ImportFiles
	b := setup(t, &g)
	rejected := importjob.NewRejectedStore(b.rdb, keyspace.Namespace(b.ns), time.Hour)
	g = ImportFiles{Accounts: b.accounts, Jobs: b.jobs, Ledger: csvimport.NewLedger(b.rdb, keyspace.Namespace(b.ns)), Rejected: rejected, JobType: importjob.TypeName}
	b.jobs.AddType(jobs.Type{Name: importjob.TypeName})
	toks := b.account(t, "acme")
	other := b.account(t, "other")
	_, j := b.do(t, "POST", "/api/v1/accounts/acme/jobs", toks["admin"], map[string]any{"type": importjob.TypeName, "label": "imp"})
	id := j["id"].(string)
	ctx := context.Background()
	run, err := b.jobs.StartRun(ctx, "acme", id, "", "manual")
	if err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/accounts/acme/jobs/" + id + "/runs/" + run.ID + "/rejected"

	code, ctype, body := rawGet(t, b, base, toks["read"])
	if code != 200 || ctype != "text/csv; charset=utf-8" || body != "_line,_reason\n" {
		t.Fatalf("nothing rejected: %d %q %q", code, ctype, body)
	}
	if _, err := rejected.Save(ctx, "acme", id, run.ID, "/in/a.csv", stagedRejections(t, "a.csv", "email,city\n,Paris\nx@y.z,Lyon\n")); err != nil {
		t.Fatal(err)
	}
	code, _, body = rawGet(t, b, base, toks["read"])
	if want := "email,city,_line,_reason\n,Paris,2,missing_identity: no identity: email all empty\n"; code != 200 || body != want {
		t.Fatalf("one file: %d\n%s\nwant\n%s", code, body, want)
	}
	if _, err := rejected.Save(ctx, "acme", id, run.ID, "/in/b.csv", stagedRejections(t, "b.csv", "user_id,country\n,FR\n")); err != nil {
		t.Fatal(err)
	}
	code, _, body = rawGet(t, b, base, toks["read"])
	want := "email,city,user_id,country,_line,_reason,_file\n" +
		",Paris,,,2,missing_identity: no identity: email all empty,/in/a.csv\n" +
		",,,FR,2,missing_identity: no identity: user_id all empty,/in/b.csv\n"
	if code != 200 || body != want {
		t.Fatalf("two files: %d\n%s\nwant\n%s", code, body, want)
	}
	code, _, body = rawGet(t, b, base+"?file=/in/b.csv", toks["read"])
	if code != 200 || body != "user_id,country,_line,_reason\n,FR,2,missing_identity: no identity: user_id all empty\n" {
		t.Fatalf("?file=: %d %s", code, body)
	}
	if code, out := b.do(t, "GET", base+"?file=/in/c.csv", toks["read"], nil); code != 404 || errCode(out) != "not_found" {
		t.Fatalf("?file= of a file without rejected rows: %d %v", code, out)
	}
	if code, out := b.do(t, "GET", "/api/v1/accounts/acme/jobs/"+id+"/runs/run_nope/rejected", toks["read"], nil); code != 404 || errCode(out) != "not_found" {
		t.Fatalf("unknown run: %d %v", code, out)
	}
	if code, _ := b.do(t, "GET", base, other["read"], nil); code != 403 && code != 404 {
		t.Fatalf("another account's token: %d", code)
	}
	// A run whose rejected rows expired.
	old, err := b.jobs.StartRun(ctx, "acme", id, "", "manual")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.jobs.Count(ctx, "acme", id, old.ID, map[string]int64{"rejected": 3}); err != nil {
		t.Fatal(err)
	}
	if code, out := b.do(t, "GET", "/api/v1/accounts/acme/jobs/"+id+"/runs/"+old.ID+"/rejected", toks["read"], nil); code != 404 || errCode(out) != "rejected_rows_expired" {
		t.Fatalf("expired rows: %d %v", code, out)
	}
}
