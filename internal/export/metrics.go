package export

import (
	"strconv"
	"time"

	"github.com/brazesync/brazesync/internal/metric"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus counters. A nil *metrics (no
// Registerer in Options) counts nothing.
type metrics struct {
	requests  *prometheus.CounterVec
	waits     prometheus.Counter
	waitSecs  prometheus.Counter
	users     *prometheus.CounterVec
	leaseLost prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests:  metric.CounterVec("brazesync_braze_requests_total", "Braze /users/track requests by HTTP status (\"error\" when no answer arrived).", "status"),
		waits:     metric.Counter("brazesync_braze_rate_limit_waits_total", "Times a Braze request had to wait for the shared rate limit (including waits handed back to the queue)."),
		waitSecs:  metric.Counter("brazesync_braze_rate_limit_wait_seconds_total", "Seconds export senders slept waiting for the shared Braze rate limit."),
		users:     metric.CounterVec("brazesync_export_users_total", "Users handled by export senders by outcome (sent, unchanged, omitted, failed).", "outcome"),
		leaseLost: metric.Counter("brazesync_export_leases_lost_total", "Users whose send lease expired before Braze answered (sent again)."),
	}
	reg.MustRegister(m.requests, m.waits, m.waitSecs, m.users, m.leaseLost)
	return m
}

func (m *metrics) request(status int) {
	if m == nil {
		return
	}
	label := "error"
	if status > 0 {
		label = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(label).Inc()
}

func (m *metrics) wait(slept time.Duration) {
	if m == nil {
		return
	}
	m.waits.Inc()
	if slept > 0 {
		m.waitSecs.Add(slept.Seconds())
	}
}

func (m *metrics) usersDone(c Counters) {
	if m == nil {
		return
	}
	for _, k := range []string{"sent", "unchanged", "omitted", "failed"} {
		if n := c[k]; n > 0 {
			m.users.WithLabelValues(k).Add(float64(n))
		}
	}
}

func (m *metrics) lost(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.leaseLost.Add(float64(n))
}
