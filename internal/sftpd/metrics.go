package sftpd

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors.
type metrics struct {
	logins        *prometheus.CounterVec // method
	loginFailures *prometheus.CounterVec // method, reason
	lockouts      *prometheus.CounterVec // scope
	connections   prometheus.Counter
	refused       prometheus.Counter
	proxyRefused  prometheus.Counter
	sessions      prometheus.Gauge
	uploads       *prometheus.CounterVec // outcome
	uploadBytes   prometheus.Counter
	quotaExceeded *prometheus.CounterVec // kind
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brazesync_sftpd_logins_total",
			Help: "Successful logins to the managed SFTP server, by method.",
		}, []string{"method"}),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brazesync_sftpd_login_failures_total",
			Help: "Refused logins, by method and reason (bad_credentials, locked, error).",
		}, []string{"method", "reason"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brazesync_sftpd_lockouts_total",
			Help: "Lockouts after repeated failed logins, by scope (user_address, user, address).",
		}, []string{"scope"}),
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brazesync_sftpd_connections_total",
			Help: "TCP connections accepted.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brazesync_sftpd_connections_refused_total",
			Help: "TCP connections closed at once because MaxConnections were open.",
		}),
		proxyRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brazesync_sftpd_proxy_refused_total",
			Help: "Connections refused for their PROXY protocol header: sent by a peer that is not a trusted proxy, missing from a trusted proxy, or malformed.",
		}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "brazesync_sftpd_sessions",
			Help: "Authenticated connections open now.",
		}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brazesync_sftpd_uploads_total",
			Help: "Uploads, by outcome (complete, aborted, failed).",
		}, []string{"outcome"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brazesync_sftpd_upload_bytes_total",
			Help: "Bytes of completed uploads.",
		}),
		quotaExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brazesync_sftpd_quota_exceeded_total",
			Help: "Writes refused because a user's quota was exceeded, by kind (bytes, files).",
		}, []string{"kind"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.logins, m.loginFailures, m.lockouts, m.connections, m.refused, m.proxyRefused,
		m.sessions, m.uploads, m.uploadBytes, m.quotaExceeded} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering sftpd metrics: %w", err)
		}
	}
	return m, nil
}
