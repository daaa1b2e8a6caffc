package workers

import (
	"net"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

func queueStatsUp(t *testing.T, rdb redis.UniversalClient) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewQueueCollector(asynq.NewInspectorFromRedisClient(rdb)))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "brazesync_queue_stats_up" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("brazesync_queue_stats_up is missing")
	return -1
}

// TestQueueCollectorSaysWhenRedisFails: queue sizes that cannot be read
// are reported as such (they were silently missing).
func TestQueueCollectorSaysWhenRedisFails(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	if up := queueStatsUp(t, rdb); up != 1 {
		t.Fatalf("up %v with Redis answering", up)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	down := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { down.Close() })
	if up := queueStatsUp(t, down); up != 0 {
		t.Fatalf("up %v with Redis down", up)
	}
}
