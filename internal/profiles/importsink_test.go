package profiles_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/profiles"
)

func TestImportSinkAppliesBrazeExportRows(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	sink := profiles.ImportSink{Store: s, Account: b.acct, Stream: profiles.BrazeUsersStream}
	cols := []string{"Appboy ID", "user_id", "email", "session_count", "city", "first_name"}
	rows := []csvimport.Record{
		{Line: 2, EventTime: t0, Columns: cols, Values: []string{"5f01", "ext-1", "A@x.io", "4", "", ""}},
		{Line: 3, EventTime: t0, Columns: cols, Values: []string{"", "", "", "", "", "nobody"}},
		{Line: 4, EventTime: t0.Add(time.Hour), Columns: cols, Values: []string{"5f01", "", "a@x.io", "five", "", ""}},
		{Line: 5, EventTime: t0.Add(time.Hour), Columns: cols, Values: []string{"5f01", "", "", "", "Paris", ""}},
	}
	applied, rej, err := sink.Apply(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	if applied != 2 || len(rej) != 2 || rej[0].Line != 3 || rej[1].Line != 4 || !strings.Contains(rej[1].Reason, "session_count") {
		t.Fatalf("applied %d, rejected %+v; want lines 3 (no identity) and 4 (bad number) rejected", applied, rej)
	}
	p, err := s.Lookup(context.Background(), b.acct, "external_id", "ext-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields["braze_id"] != "5f01" || p.Fields["session_count"] != 4.0 || p.Fields["city"] != "Paris" || p.Fields["email"] != "a@x.io" {
		t.Errorf("fields = %v; empty values must not clear, later rows fill in", p.Fields)
	}
}

func TestImportSinkMapsEachSectionsColumns(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	sink := profiles.ImportSink{Store: s, Account: b.acct, Stream: profiles.BrazeUsersStream}
	// Two files' sections with their own headers in one call; the second
	// names braze_id twice (the later column wins) and one row is short.
	first := []string{"user_id", "session_count"}
	second := []string{"Braze ID", "user_id", "Appboy ID", "session_count"}
	rows := []csvimport.Record{
		{Line: 2, EventTime: t0, Columns: first, Values: []string{"ext-1", "3"}},
		{Line: 2, Entry: "b.csv", EventTime: t0, Columns: second, Values: []string{"b-old", "ext-2", "b-new", "7"}},
		{Line: 3, Entry: "b.csv", EventTime: t0, Columns: second, Values: []string{"b-x", "ext-3"}},
		{Line: 3, EventTime: t0, Columns: first, Values: []string{"ext-4", "x"}},
	}
	applied, rej, err := sink.Apply(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	if applied != 2 || len(rej) != 2 || rej[0].Entry != "b.csv" || !strings.Contains(rej[0].Reason, "2 values for 4 columns") ||
		rej[1].Line != 3 || !strings.Contains(rej[1].Reason, "session_count") {
		t.Fatalf("applied %d, rejected %+v; want the short row and the bad number rejected", applied, rej)
	}
	p1, err := s.Lookup(context.Background(), b.acct, "external_id", "ext-1")
	if err != nil {
		t.Fatal(err)
	}
	if p1.Fields["session_count"] != 3.0 {
		t.Errorf("first section's row: fields %v", p1.Fields)
	}
	p2, err := s.Lookup(context.Background(), b.acct, "external_id", "ext-2")
	if err != nil {
		t.Fatal(err)
	}
	if p2.Fields["braze_id"] != "b-new" || p2.Fields["session_count"] != 7.0 {
		t.Errorf("second section's row: fields %v; the later braze_id column wins", p2.Fields)
	}
}
