package braze

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/brazesync/brazesync/internal/brazesim"
)

// BenchmarkSend75 sends 75-object requests from the client to the simulator
// over loopback HTTP, 8 at a time: the client's and the simulator's cost
// together.
func BenchmarkSend75(b *testing.B) {
	sim := brazesim.New(brazesim.Options{RateLimit: 1 << 30})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := New(Options{Endpoint: srv.URL, APIKey: "bench", AllowInsecure: true, AllowCustomEndpoint: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseIdleConnections()
	batches, err := c.Batches(users(75*64, 10))
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Send(context.Background(), batches[n.Add(1)%int64(len(batches))])
			if err != nil || res.AttributesProcessed != 75 {
				b.Errorf("send: %v %+v", err, res)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
