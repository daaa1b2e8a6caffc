package profiles

import (
	"context"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestMigrateHashProfiles turns profiles an earlier build stored as hashes
// into the string form: nothing of them is lost, and they take updates.
func TestMigrateHashProfiles(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{})
	ctx := context.Background()
	acct := "acct-" + redistest.RandomID()
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := s.Upsert(ctx, acct, "web", []Record{
		{Fields: map[string]any{"email": "new@x.io", "city": "Oslo"}, EventTime: ts},
	}); err != nil {
		t.Fatal(err)
	}
	// Profile 2 as the earlier build wrote it.
	old := `{"city":"1767323045000|sRome","n":"1767323045000|n7"}`
	if err := rdb.HSet(ctx, s.keys.profile(acct, "2"), "m:fs", "1767323045000", "m:ls", "1767323045000",
		"m:ids", "email:old@x.io\nexternal_id:u2", "d", old).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, s.keys.ids(acct), "email:old@x.io", "2", "external_id:u2", "2").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, s.keys.seq(acct), 2, 0).Err(); err != nil {
		t.Fatal(err)
	}
	n, err := s.MigrateHashProfiles(ctx, acct)
	if err != nil || n != 1 {
		t.Fatalf("MigrateHashProfiles = %d, %v; want 1", n, err)
	}
	if n, err := s.MigrateHashProfiles(ctx, acct); err != nil || n != 0 {
		t.Fatalf("second run = %d, %v; want 0", n, err)
	}
	p, err := s.Lookup(ctx, acct, "external_id", "u2")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "2" || p.Fields["city"] != "Rome" || p.Fields["n"] != 7.0 || len(p.Identities["email"]) != 1 ||
		!p.FirstSeen.Equal(time.UnixMilli(1767323045000)) {
		t.Fatalf("migrated profile = %+v", p)
	}
	if _, err := s.Upsert(ctx, acct, "web", []Record{
		{Fields: map[string]any{"email": "old@x.io", "city": "Lyon"}, EventTime: ts.Add(time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Lookup(ctx, acct, "email", "old@x.io"); p == nil || p.Fields["city"] != "Lyon" || p.Fields["n"] != 7.0 {
		t.Fatalf("after an update: %+v", p)
	}
}
