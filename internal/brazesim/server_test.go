package brazesim

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	(&Server{}).Stop() // safe before Start, even on a zero Server
	srv := NewServer("127.0.0.1:0", New(Options{}), nil)
	srv.Stop()
	if err := srv.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}

	srv = NewServer("127.0.0.1:0", New(Options{}), nil)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/users/track", strings.NewReader(`{"attributes":[{"external_id":"u","x":1}]}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", resp.StatusCode)
	}
	srv.Stop()
	srv.Stop()
	if resp, err := client.Get(srv.URL() + "/_sim/stats"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("server still answers after Stop")
	}
}

func TestServerStopReleasesHangingRequests(t *testing.T) {
	t.Parallel()
	sim := New(Options{Faults: Faults{TimeoutRate: 1}})
	srv := NewServer("127.0.0.1:0", sim, nil)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	done := make(chan int, 1) // status, or 0 when no answer arrived
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/users/track", strings.NewReader(`{"attributes":[{"external_id":"u"}]}`))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := client.Do(req)
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	// Wait until the request is being held.
	deadline := time.Now().Add(5 * time.Second)
	for sim.Stats().Timeouts == 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never reached the simulator")
		}
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { srv.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("Stop waited on a hanging request")
	}
	if status := <-done; status != 0 && status != http.StatusGatewayTimeout {
		t.Fatalf("a request held by a timeout fault got %d, want 504 or no answer", status)
	}
}

func TestServerStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer("127.0.0.1:0", New(Options{}), nil)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	client := &http.Client{Transport: &http.Transport{}, Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get(srv.URL() + "/_sim/stats")
		if err != nil {
			break
		}
		_ = resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still serving after its context ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Stop()
}
