package brazesim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

var oneObject = attrs(map[string]any{"external_id": "u", "x": 1})

func TestFaultServerErrors(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{Faults: Faults{ServerErrorRate: 1}})
	for range 10 {
		a := b.post(t, "/users/track", testKey, oneObject)
		if a.status < 500 || a.status > 504 {
			t.Fatalf("status %d, want 5xx", a.status)
		}
	}
	if _, ok := sim.User("u"); ok {
		t.Fatal("a 5xx request was applied")
	}
	if st := sim.Stats(); st.ServerErrors != 10 {
		t.Fatalf("server_errors = %d", st.ServerErrors)
	}
}

func TestFaultRateLimit(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{Faults: Faults{RateLimitRate: 1}})
	a := b.post(t, "/users/track", testKey, oneObject)
	if a.status != http.StatusTooManyRequests || a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("answer %d %v", a.status, a.header)
	}
	if st := sim.Stats(); st.RateLimited != 1 {
		t.Fatalf("rate_limited = %d", st.RateLimited)
	}
}

func TestFaultDropClosesConnection(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{Faults: Faults{DropRate: 1}})
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/users/track", strings.NewReader(`{"attributes":[{"external_id":"u"}]}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := b.client.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("dropped connection answered %d", resp.StatusCode)
	}
	if st := sim.Stats(); st.Dropped < 1 {
		t.Fatalf("dropped = %d", st.Dropped)
	}
}

func TestFaultTimeoutHangsUntilClientGivesUp(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{Faults: Faults{TimeoutRate: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+"/users/track", strings.NewReader(`{"attributes":[{"external_id":"u"}]}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := b.client.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("hanging request answered %d", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	if st := sim.Stats(); st.Timeouts != 1 {
		t.Fatalf("timeouts = %d", st.Timeouts)
	}
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	_, b := setup(t, Options{Faults: Faults{Latency: 60 * time.Millisecond}})
	start := time.Now()
	if a := b.post(t, "/users/track", testKey, oneObject); a.status != http.StatusCreated {
		t.Fatalf("status %d", a.status)
	}
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Fatalf("answered in %v, want at least the 60ms latency", took)
	}
}

func TestFaultsOverHTTP(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	a := b.post(t, "/_sim/faults", "", `{"server_error_rate": 0.25, "latency": "5ms"}`)
	if a.status != http.StatusOK || a.body["server_error_rate"] != 0.25 || a.body["latency"] != "5ms" {
		t.Fatalf("POST /_sim/faults: %d %v", a.status, a.body)
	}
	if f := sim.Faults(); f.ServerErrorRate != 0.25 || f.Latency != 5*time.Millisecond {
		t.Fatalf("faults %+v", f)
	}
	for _, bad := range []string{`{"drop_rate": 2}`, `{"latency": "soon"}`, `{`} {
		if a := b.post(t, "/_sim/faults", "", bad); a.status != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, a.status)
		}
	}
	if g := b.get(t, "/_sim/faults"); g.body["server_error_rate"] != 0.25 {
		t.Fatalf("invalid faults replaced valid ones: %v", g.body)
	}
	// Clearing.
	b.post(t, "/_sim/faults", "", `{}`)
	if sim.Faults() != (Faults{}) {
		t.Fatalf("faults not cleared: %+v", sim.Faults())
	}
}

func TestFaultsAreDeterministicWithSeed(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) string {
		_, b := setup(t, Options{Seed: seed, Faults: Faults{ServerErrorRate: 0.3, RateLimitRate: 0.3}})
		var sb strings.Builder
		for range 40 {
			sb.WriteString(http.StatusText(b.post(t, "/users/track", testKey, oneObject).status)[:3])
		}
		return sb.String()
	}
	first, again, other := run(7), run(7), run(8)
	if first != again {
		t.Fatalf("same seed, different faults:\n%s\n%s", first, again)
	}
	if first == other {
		t.Fatal("different seeds gave the same 40 outcomes")
	}
	if !strings.Contains(first, "Cre") || !strings.Contains(first, "Too") {
		t.Fatalf("rates 0.3 gave no mix: %s", first)
	}
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := Faults{ServerErrorRate: 0.1, RateLimitRate: 0.2, TimeoutRate: 0.3, DropRate: 0.4, Latency: time.Second}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Faults
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip %s -> %+v, %v", b, out, err)
	}
}
