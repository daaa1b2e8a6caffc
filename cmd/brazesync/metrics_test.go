package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestMetricsAddr runs `brazesync api` with METRICS_ADDR: the internal
// listener serves /metrics without a token, the API listener's /metrics
// asks for one (401) and serves it to the operator token.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	_, url := redistest.DB(t)
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	const operator = "operator-token-for-metrics-test"
	p := start(t, []string{"REDIS_URL=" + url, "BRAZESYNC_MASTER_KEY=" + masterKey, "BRAZESYNC_ADMIN_TOKEN=" + operator,
		"HTTP_ADDR=" + httpAddr, "METRICS_ADDR=" + metricsAddr}, "api")
	waitHTTP(t, "http://"+httpAddr+"/healthz")
	get := func(url, tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	if code, body := get("http://"+metricsAddr+"/metrics", ""); code != 200 || !strings.Contains(body, "brazesync_http_requests_total") {
		t.Errorf("METRICS_ADDR /metrics without token: %d %.300s", code, body)
	}
	if code, _ := get("http://"+httpAddr+"/metrics", ""); code != 401 {
		t.Errorf("API /metrics without token: %d, want 401", code)
	}
	if code, _ := get("http://"+httpAddr+"/metrics", operator); code != 200 {
		t.Errorf("API /metrics with the operator token: %d, want 200", code)
	}
	if code := p.terminate(t); code != 0 {
		t.Errorf("api exited %d; stderr:\n%s", code, p.stderr)
	}
}
