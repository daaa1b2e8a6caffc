package profiles

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	for _, f := range []string{"email", "external_id"} {
		v := map[string]string{"email": "old@x.io", "external_id": "u2"}[f]
		if err := rdb.HSet(ctx, s.keys.index(acct, f), v, "2").Err(); err != nil {
			t.Fatal(err)
		}
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

// TestMigrateIndex: the index of an earlier build is refused until it is
// moved, then every entry resolves, and an entry this build wrote first
// wins.
func TestMigrateIndex(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{})
	ctx := context.Background()
	acct := "acct-" + redistest.RandomID()
	if _, err := s.Upsert(ctx, acct, "web", []Record{
		{Fields: map[string]any{"email": "a@x.io", "external_id": "ua"}},
		{Fields: map[string]any{"email": "b@x.io"}},
	}); err != nil {
		t.Fatal(err)
	}
	// The earlier build's hash: 2500 entries (more than one HSCAN page),
	// one of which (email:b@x.io) this build has written since.
	legacy := ns.Account(acct, "ids")
	args := []any{"email:b@x.io", "1"}
	for i := range 2500 {
		args = append(args, fmt.Sprintf("external_id:old%d", i), fmt.Sprint(i%2+1))
	}
	if err := rdb.HSet(ctx, legacy, args...).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, acct, map[string]string{"email": "a@x.io"}); !errors.Is(err, ErrLegacyIndex) {
		t.Fatalf("Resolve with an old index = %v, want ErrLegacyIndex", err)
	}
	if _, err := s.Upsert(ctx, acct, "web", []Record{{Fields: map[string]any{"email": "c@x.io"}}}); !errors.Is(err, ErrLegacyIndex) {
		t.Fatalf("Upsert with an old index = %v, want ErrLegacyIndex", err)
	}
	n, err := s.MigrateIndex(ctx, acct)
	if err != nil || n != 2501 {
		t.Fatalf("MigrateIndex = %d, %v; want 2501", n, err)
	}
	if n, err := s.MigrateIndex(ctx, acct); err != nil || n != 0 {
		t.Fatalf("second run = %d, %v; want 0", n, err)
	}
	if rdb.Exists(ctx, legacy).Val() != 0 {
		t.Fatal("the old index is still there")
	}
	for sfx, want := range map[string]string{"external_id:old7": "2", "external_id:old8": "1", "email:b@x.io": "2", "email:a@x.io": "1"} {
		f, v := splitSuffix(sfx)
		if id, err := s.Resolve(ctx, acct, map[string]string{f: v}); err != nil || id != want {
			t.Errorf("Resolve(%s) = %q, %v; want %s", sfx, id, err, want)
		}
	}
	if _, err := s.Upsert(ctx, acct, "web", []Record{{Fields: map[string]any{"email": "c@x.io"}}}); err != nil {
		t.Fatalf("Upsert after the migration: %v", err)
	}
}

func TestMigrateIndexRefusesAnEntryWithoutField(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{})
	ctx := context.Background()
	acct := "acct-" + redistest.RandomID()
	rdb.HSet(ctx, ns.Account(acct, "ids"), "no-field", "1")
	if _, err := s.MigrateIndex(ctx, acct); err == nil || !strings.Contains(err.Error(), `"no-field"`) {
		t.Fatalf("MigrateIndex = %v, want an error naming the entry", err)
	}
}
