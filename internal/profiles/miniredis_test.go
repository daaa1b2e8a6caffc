package profiles_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/redis/go-redis/v9"
)

// TestWorksOnMiniredis keeps the scripts within what the embedded Redis of
// `brazesync dev` runs (gopher-lua with its cjson).
func TestWorksOnMiniredis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	var logged bytes.Buffer
	s := profiles.New(rdb, "bs", nil, profiles.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	ctx := context.Background()
	res, err := s.Upsert(ctx, "a", "web", []profiles.Record{
		rec(t0, map[string]any{"email": "a@x.io", "city": "Oslo"}),
		rec(t0.Add(time.Second), map[string]any{"external_id": "e1", "city": "Rome"}),
		rec(t0.Add(-time.Second), map[string]any{"email": "a@x.io", "external_id": "e1", "n": 1.0}),
	})
	if err != nil || res.Applied != 3 {
		t.Fatalf("Upsert = %+v, %v", res, err)
	}
	p, err := s.Lookup(ctx, "a", "external_id", "e1")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "1" || p.Fields["city"] != "Rome" || p.Fields["n"] != 1.0 || len(p.Identities) != 2 {
		t.Errorf("merged profile = %+v", p)
	}
	if err := s.Delete(ctx, "a", p.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, "a"); n != 0 {
		t.Errorf("Count after delete = %d", n)
	}

	// A bulk import of new records, whose commits stream on a connection
	// of their own.
	var recs []profiles.Record
	for i := range 300 {
		recs = append(recs, rec(t0, map[string]any{"email": fmt.Sprintf("b%d@x.io", i), "n": float64(i)}))
	}
	b := s.NewBulk("b", "web")
	fresh, err := b.Preread(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Upsert(ctx, recs, fresh)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.Close()
	if err != nil || got.Applied+n != len(recs) {
		t.Fatalf("bulk: %d + %d applied of %d, %v", got.Applied, n, len(recs), err)
	}
	if n, _ := s.Count(ctx, "b"); n != int64(len(recs)) {
		t.Errorf("bulk: %d profiles, want %d", n, len(recs))
	}
	if p, err := s.Lookup(ctx, "b", "email", "b299@x.io"); err != nil || p.Fields["n"] != 299.0 {
		t.Errorf("bulk: last profile %+v, %v", p, err)
	}
	if strings.Contains(logged.String(), "one at a time") {
		t.Errorf("the bulk did not stream its commits: %s", logged.String())
	}
}
