package profiles_test

import (
	"context"
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
	s := profiles.New(rdb, "bs", nil, profiles.Options{})
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
}
