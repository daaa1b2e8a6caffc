package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestHealthAndMetrics: /healthz and /readyz answer without a token, and
// /metrics serves Prometheus text with brazesync's series.
func TestHealthAndMetrics(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		e.Call(t, "GET", "/healthz", "", nil).Expect(t, 200)
		e.Call(t, "GET", "/readyz", "", nil).Expect(t, 200)
		m := e.Call(t, "GET", "/metrics", e.Admin, nil)
		if m.Status != 200 || !strings.Contains(string(m.Body), "brazesync_http_requests_total") {
			t.Errorf("/metrics: %d, %.300s", m.Status, m.Body)
		}
	})
}

// TestMonitoring: /monitoring/ asks for the admin token, serves asynqmon
// with it, and its API lists the queues.
func TestMonitoring(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		r := e.Call(t, "GET", "/monitoring/", "", nil)
		if r.Status != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("/monitoring/ without a token: %d %v", r.Status, r.Header)
		}
		page := call(t, "GET", e.API+"/monitoring/", "", nil, http.Header{"Authorization": {basicAuth("any", e.Admin)}})
		if page.Status != 200 || !strings.Contains(string(page.Body), "<html") {
			t.Errorf("/monitoring/ with the admin token: %d %.200s", page.Status, page.Body)
		}
		q := e.Call(t, "GET", "/monitoring/api/queues", e.Admin, nil).Expect(t, 200)
		if q.Get("queues") == nil {
			t.Errorf("/monitoring/api/queues = %v", q)
		}

		// The monitor token sees everything and changes nothing.
		page = call(t, "GET", e.API+"/monitoring/", "", nil, http.Header{"Authorization": {basicAuth("any", e.Monitor)}})
		if page.Status != 200 {
			t.Errorf("/monitoring/ with the monitor token: %d", page.Status)
		}
		e.Call(t, "GET", "/monitoring/api/queues", e.Monitor, nil).Expect(t, 200)
		if r := e.Call(t, "POST", "/monitoring/api/queues/default:pause", e.Monitor, ""); r.Status < 400 {
			t.Errorf("pausing a queue with the monitor token: %d", r.Status)
		}
		a := e.NewAccount(t)
		e.Call(t, "GET", "/api/v1/accounts/"+a.ID+"/jobs", e.Monitor, nil).Expect(t, 200)
		if r := e.Call(t, "POST", "/api/v1/accounts/"+a.ID+"/audiences", e.Monitor, map[string]any{"slug": "x", "name": "x", "kind": "list"}); r.Status != http.StatusForbidden {
			t.Errorf("a write with the monitor token: %d", r.Status)
		}
		if r := e.Call(t, "POST", "/api/v1/accounts", e.Monitor, map[string]any{"id": "nope", "name": "x"}); r.Status != http.StatusForbidden {
			t.Errorf("creating an account with the monitor token: %d", r.Status)
		}
	})
}

func basicAuth(user, pw string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(user, pw)
	return req.Header.Get("Authorization")
}
