package api

import (
	"context"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/store"
)

func TestImportFilesLedger(t *testing.T) {
	t.Parallel()
	var g ImportFiles
	b := setup(t, &g)
	ledger := csvimport.NewLedger(b.rdb, store.Namespace(b.ns))
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
