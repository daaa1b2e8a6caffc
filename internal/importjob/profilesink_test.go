package importjob

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

var sinkBase = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// plainUpserter hides a store's NewBulk: the sink then applies each call
// with one Upsert.
type plainUpserter struct{ s *profiles.Store }

func (u plainUpserter) Upsert(ctx context.Context, account, stream string, records []profiles.Record) (profiles.Result, error) {
	return u.s.Upsert(ctx, account, stream, records)
}

// sinkImport feeds rows to a profileSink of the braze_users stream as an
// import does (NewFile, Preread, Apply with the answers, Flush) through
// each kind of Upserter, and returns the store, the account, the rows
// applied and the rejections.
func sinkImport(t *testing.T, bulk bool, rows []csvimport.Record) (*profiles.Store, string, int, []csvimport.Rejection) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	s := profiles.New(rdb, ns, nil, profiles.Options{})
	var up Upserter = plainUpserter{s}
	if bulk {
		up = ProfilesUpserter(s)
	}
	acct := "acct-" + redistest.RandomID()
	sink := &profileSink{up: up, account: acct, stream: profiles.BrazeUsersStream}
	ctx := context.Background()
	sink.NewFile()
	hints, err := sink.Preread(ctx, rows)
	if err != nil {
		t.Fatalf("Preread: %v", err)
	}
	for i := range hints {
		rows[i].Hint = hints[i]
	}
	applied, rej, err := sink.Apply(ctx, rows)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	more, err := sink.Flush(ctx)
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return s, acct, applied + more, rej
}

func TestProfileSinkAppliesBrazeExportRows(t *testing.T) {
	t.Parallel()
	for _, bulk := range []bool{true, false} {
		cols := []string{"Appboy ID", "user_id", "email", "session_count", "city", "first_name"}
		rows := []csvimport.Record{
			{Line: 2, EventTime: sinkBase, Columns: cols, Values: []string{"5f01", "ext-1", "A@x.io", "4", "", ""}},
			{Line: 3, EventTime: sinkBase, Columns: cols, Values: []string{"", "", "", "", "", "nobody"}},
			{Line: 4, EventTime: sinkBase.Add(time.Hour), Columns: cols, Values: []string{"5f01", "", "a@x.io", "five", "", ""}},
			{Line: 5, EventTime: sinkBase.Add(time.Hour), Columns: cols, Values: []string{"5f01", "", "", "", "Paris", ""}},
		}
		s, acct, applied, rej := sinkImport(t, bulk, rows)
		if applied != 2 || len(rej) != 2 || rej[0].Line != 3 || rej[1].Line != 4 || !strings.Contains(rej[1].Reason, "session_count") {
			t.Fatalf("bulk %v: applied %d, rejected %+v; want lines 3 (no identity) and 4 (bad number) rejected", bulk, applied, rej)
		}
		p, err := s.Lookup(context.Background(), acct, "external_id", "ext-1")
		if err != nil {
			t.Fatal(err)
		}
		if p.Fields["braze_id"] != "5f01" || p.Fields["session_count"] != 4.0 || p.Fields["city"] != "Paris" || p.Fields["email"] != "a@x.io" {
			t.Errorf("bulk %v: fields = %v; empty values must not clear, later rows fill in", bulk, p.Fields)
		}
	}
}

func TestProfileSinkMapsEachSectionsColumns(t *testing.T) {
	t.Parallel()
	for _, bulk := range []bool{true, false} {
		// Two files' sections with their own headers in one call; the second
		// names braze_id twice (the later column wins) and one row is short.
		first := []string{"user_id", "session_count"}
		second := []string{"Braze ID", "user_id", "Appboy ID", "session_count"}
		rows := []csvimport.Record{
			{Line: 2, EventTime: sinkBase, Columns: first, Values: []string{"ext-1", "3"}},
			{Line: 2, Entry: "b.csv", EventTime: sinkBase, Columns: second, Values: []string{"b-old", "ext-2", "b-new", "7"}},
			{Line: 3, Entry: "b.csv", EventTime: sinkBase, Columns: second, Values: []string{"b-x", "ext-3"}},
			{Line: 3, EventTime: sinkBase, Columns: first, Values: []string{"ext-4", "x"}},
		}
		s, acct, applied, rej := sinkImport(t, bulk, rows)
		if applied != 2 || len(rej) != 2 || rej[0].Entry != "b.csv" || !strings.Contains(rej[0].Reason, "2 values for 4 columns") ||
			rej[1].Line != 3 || !strings.Contains(rej[1].Reason, "session_count") {
			t.Fatalf("bulk %v: applied %d, rejected %+v; want the short row and the bad number rejected", bulk, applied, rej)
		}
		p1, err := s.Lookup(context.Background(), acct, "external_id", "ext-1")
		if err != nil {
			t.Fatal(err)
		}
		if p1.Fields["session_count"] != 3.0 {
			t.Errorf("bulk %v: first section's row: fields %v", bulk, p1.Fields)
		}
		p2, err := s.Lookup(context.Background(), acct, "external_id", "ext-2")
		if err != nil {
			t.Fatal(err)
		}
		if p2.Fields["braze_id"] != "b-new" || p2.Fields["session_count"] != 7.0 {
			t.Errorf("bulk %v: second section's row: fields %v; the later braze_id column wins", bulk, p2.Fields)
		}
	}
}
