package redisserver_test

import (
	"testing"

	"github.com/brazesync/brazesync/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

func TestStartAnswersAndStops(t *testing.T) {
	t.Parallel()
	addr, stop, err := redisserver.Start(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("the started server does not take a write: %v", err)
	}
	stop()
	if err := rdb.Ping(t.Context()).Err(); err == nil {
		t.Fatal("the server still answers after stop")
	}
}
