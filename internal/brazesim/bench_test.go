package brazesim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// body75 is a /users/track body of 75 attributes objects like an export
// sends: external_id and an add/remove of the segments attribute.
func body75(batch int) []byte {
	objs := make([]map[string]any, 75)
	for i := range objs {
		objs[i] = map[string]any{
			"external_id":     fmt.Sprintf("user-%d-%d", batch%1000, i),
			"lytics_segments": map[string]any{"add": []string{"high_value", "churn_risk"}, "remove": []string{"new_user"}},
		}
	}
	b, _ := json.Marshal(map[string]any{"attributes": objs})
	return b
}

// BenchmarkTrack75 measures the handler alone on a 75-object request.
func BenchmarkTrack75(b *testing.B) {
	sim := New(Options{RateLimit: 1 << 30})
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = body75(i)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			req := httptest.NewRequest(http.MethodPost, "/users/track", bytes.NewReader(bodies[i%64]))
			req.Header.Set("Authorization", "Bearer bench")
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N)*75/b.Elapsed().Seconds(), "objects/s")
}

// BenchmarkTrack75HTTP measures 75-object requests over loopback HTTP with
// keep-alive, as a worker sends them.
func BenchmarkTrack75HTTP(b *testing.B) {
	sim := New(Options{RateLimit: 1 << 30})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = body75(i)
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/users/track", bytes.NewReader(bodies[i%64]))
			req.Header.Set("Authorization", "Bearer bench")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
