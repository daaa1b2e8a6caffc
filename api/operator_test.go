package api

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMonitoringRefusesCrossOriginChanges: with valid Basic credentials, a
// state-changing request under /monitoring/ is refused 403 when Origin or
// Sec-Fetch-Site names another site, and served when they name this
// origin or are absent (curl); reads are served from anywhere.
func TestMonitoringRefusesCrossOriginChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	send := func(method, tok string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, b.http.URL+"/monitoring/api/queues/default:pause", nil)
		req.SetBasicAuth("ops", tok)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	self := b.http.URL // http://127.0.0.1:port
	cases := []struct {
		method string
		hdr    map[string]string
		want   int
	}{
		{"POST", map[string]string{"Origin": "https://evil.example"}, 403},
		{"DELETE", map[string]string{"Origin": "https://evil.example"}, 403},
		{"PUT", map[string]string{"Origin": "null"}, 403},
		{"POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"POST", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": self}, 403},
		{"POST", map[string]string{"Origin": self}, 200},
		{"POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": self}, 200},
		{"POST", nil, 200}, // curl: no browser, no ambient credentials
		{"GET", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 200},
		{"HEAD", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
		{"OPTIONS", map[string]string{"Origin": "https://evil.example"}, 200},
	}
	for _, c := range cases {
		code, body := send(c.method, operatorToken, c.hdr)
		if code != c.want {
			t.Errorf("%s with %v: %d %s, want %d", c.method, c.hdr, code, body, c.want)
		}
		if c.want == 403 && !strings.Contains(body, `"code":"cross_origin"`) {
			t.Errorf("%s with %v: body %s lacks code cross_origin", c.method, c.hdr, body)
		}
	}
	if code, _ := send("POST", "wrong-token-0123456789", map[string]string{"Origin": self}); code != 401 {
		t.Errorf("same origin with a wrong token: %d, want 401", code)
	}
}

// TestMetricsNeedToken: /metrics on the API listener takes the operator
// token or the monitor token, nothing else.
func TestMetricsNeedToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	toks := b.account(t, "acme")
	get := func(auth func(*http.Request)) (int, string) {
		req, _ := http.NewRequest("GET", b.http.URL+"/metrics", nil)
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	if code, _ := get(nil); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _ := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+toks["admin"]) }); code != 403 {
		t.Errorf("an account's admin token: %d, want 403", code)
	}
	for name, tok := range map[string]string{"operator": operatorToken, "monitor": monitorToken} {
		code, body := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
		if code != 200 || !strings.Contains(body, "brazesync_http_requests_total") {
			t.Errorf("%s token: %d %.200s", name, code, body)
		}
	}
	if code, _ := get(func(r *http.Request) { r.SetBasicAuth("prometheus", monitorToken) }); code != 200 {
		t.Errorf("monitor token as Basic auth: %d", code)
	}
}

// silentRedis accepts connections, reads what they send and never answers.
func silentRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestReadyzAnswersWhenRedisIsSilent: /readyz answers 503 within its own
// timeout when Redis accepts connections but never replies.
func TestReadyzAnswersWhenRedisIsSilent(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: silentRedis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	srv := New(Deps{Redis: rdb, Logger: slog.New(slog.DiscardHandler)})
	h := httptest.NewServer(srv.Handler())
	t.Cleanup(h.Close)
	start := time.Now()
	resp, err := http.Get(h.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with a silent Redis: %d, want 503", resp.StatusCode)
	}
	if took > ReadyTimeout+500*time.Millisecond {
		t.Fatalf("readyz took %s, more than its %s timeout", took, ReadyTimeout)
	}
}
