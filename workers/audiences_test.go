package workers

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// TestRuleReevaluationRunsInChunkTasks: a rule created over existing
// profiles fills through chained chunk tasks, and the hourly maintenance runs.
func TestRuleReevaluationRunsInChunkTasks(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	ns := keyspace.Namespace("bs")
	ctx := context.Background()
	aud := audiences.New(rdb, ns, nil, audiences.Options{Logger: testLogger(), ChunkSize: 50})
	prof := profiles.New(rdb, ns, aud, profiles.Options{})
	aud.UseProfiles(prof)
	accts := accounts.New(rdb, ns, nil)
	accts.Create(ctx, "acme", "")
	var recs []profiles.Record
	for i := 0; i < 500; i++ {
		c := "DE"
		if i%5 == 0 {
			c = "FR"
		}
		recs = append(recs, profiles.Record{Fields: map[string]any{"braze_id": fmt.Sprintf("u%d", i), "country": c}})
	}
	if _, err := prof.Upsert(ctx, "acme", "braze_users", recs); err != nil {
		t.Fatal(err)
	}
	if _, err := aud.Create(ctx, "acme", audiences.Audience{Slug: "fr", Name: "fr", Kind: audiences.KindRule, Rule: json.RawMessage(`{"field":"country","op":"eq","value":"FR"}`)}); err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	h := &Audiences{Service: aud, Accounts: accts, Changelog: changelog.New(rdb, ns, changelog.Options{}), Enqueuer: client, Logger: testLogger()}
	srv := NewServer(rdb, Config{Concurrency: 2})
	h.Register(srv)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if err := tasks.EnqueueAudienceReevaluate(ctx, client, tasks.AudienceReevaluate{Account: "acme", Slug: "fr"}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the audience to hold its 100 members", func() bool {
		n, _ := aud.Size(ctx, "acme", "fr")
		return n == 100
	})
	poll.Until(t, 20*time.Second, "re-evaluation progress to say done", func() bool {
		p, err := aud.Progress(ctx, "acme", "fr")
		return err == nil && p != nil && p.State == "done"
	})
	if err := h.hourly(ctx, nil); err != nil {
		t.Fatalf("hourly maintenance: %v", err)
	}
}
