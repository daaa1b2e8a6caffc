package redisserver_test

import (
	"testing"

	"github.com/brazesync/brazesync/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// TestCommandStatsAndCPU: the commands run between two snapshots come out
// of TopCommands with their calls, and the server's CPU time reads.
func TestCommandStatsAndCPU(t *testing.T) {
	t.Parallel()
	addr, stop, err := redisserver.Start(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := t.Context()
	before, err := redisserver.CommandStats(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := redisserver.CommandStats(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	top := redisserver.TopCommands(before, after, 10)
	found := false
	for _, c := range top {
		if c.Name == "set" {
			found = c.Calls == 50
		}
	}
	if !found {
		t.Fatalf("TopCommands %+v: want set with 50 calls", top)
	}
	if cpu, err := redisserver.CPU(ctx, rdb); err != nil || cpu <= 0 {
		t.Fatalf("CPU = %v, %v; want a positive time", cpu, err)
	}
}
