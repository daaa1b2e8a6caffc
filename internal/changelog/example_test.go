package changelog_test

import (
	"context"
	"fmt"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// A consumer that starts with the current members of its audiences
// (backfill) and then follows the log from the position it took when it was
// created. members stands for *audiences.Service.
func Example_backfillThenFollow() {
	ctx := context.Background()
	opt, _ := redis.ParseURL(redistest.URL())
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ns := keyspace.Namespace("example" + redistest.RandomID())
	defer rdb.Del(ctx, changelog.StreamKey(ns, "acct-1"), ns.Account("acct-1", "changelog", "consumers"))

	log := changelog.New(rdb, ns, changelog.Options{})
	members := fakeSource{"vip": {"p1", "p2", "p3"}}

	// 1. Fix the log position first.
	if _, _, err := log.CreateConsumer(ctx, "acct-1", "export:job-1", changelog.StartNow); err != nil {
		fmt.Println(err)
		return
	}
	// A change made during the backfill is in the log after that position.
	_ = log.Append(ctx, "acct-1", changelog.Entry{Audience: "vip", ProfileID: "p2", Op: changelog.OpExit})

	// 2. Walk current membership in resumable chunks.
	cursor := ""
	for {
		page, next, done, err := changelog.Backfill(ctx, members, "acct-1", []string{"vip"}, cursor, 2)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, m := range page {
			fmt.Println("backfill", m.Audience, m.ProfileID)
		}
		if done {
			break
		}
		cursor = next // store it with the job's progress to resume after a crash
	}

	// 3. Follow the log from the consumer's cursor, committing after each batch.
	for {
		entries, err := log.Read(ctx, "acct-1", "export:job-1", 100)
		if err != nil || len(entries) == 0 {
			break
		}
		for _, e := range entries {
			fmt.Println("log", e.Op, e.Audience, e.ProfileID)
		}
		_ = log.Commit(ctx, "acct-1", "export:job-1", entries[len(entries)-1].ID)
	}
	// Output:
	// backfill vip p1
	// backfill vip p2
	// backfill vip p3
	// log exit vip p2
}
