package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/brazesync/brazesync/internal/ingest"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/redis/go-redis/v9"
)

// TestWorksOnMiniredis keeps the collect path and the processor within what
// the embedded Redis of `brazesync dev` supports.
func TestWorksOnMiniredis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	st := profiles.New(rdb, "bs", nil, profiles.Options{})
	c := ingest.NewCollector(rdb, "bs", st, ingest.CollectorOptions{})
	b := &bundle{store: st, collector: c, url: newCollectServer(t, c), acct: "dev"}
	if a := post(t, b.collectURL("braze_users"), "application/json", `{"email":"dev@x.io","braze_id":"b1"}`); a.status != 200 {
		t.Fatalf("collect on miniredis: %d %+v", a.status, a.body)
	}
	startProcessor(t, rdb, "bs", st, ingest.ProcessorOptions{ClaimInterval: time.Millisecond})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := st.Lookup(context.Background(), "dev", "braze_id", "b1")
		if err == nil {
			break
		}
		if !errors.Is(err, profiles.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("profile not applied on miniredis: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}
