package sftpd

import (
	"fmt"

	"github.com/brazesync/brazesync/internal/metric"
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
		logins:        metric.CounterVec("brazesync_sftpd_logins_total", "Successful logins to the managed SFTP server, by method.", "method"),
		loginFailures: metric.CounterVec("brazesync_sftpd_login_failures_total", "Refused logins, by method and reason (bad_credentials, locked, error).", "method", "reason"),
		lockouts:      metric.CounterVec("brazesync_sftpd_lockouts_total", "Lockouts after repeated failed logins, by scope (user_address, user, address).", "scope"),
		connections:   metric.Counter("brazesync_sftpd_connections_total", "TCP connections accepted."),
		refused:       metric.Counter("brazesync_sftpd_connections_refused_total", "TCP connections closed at once because MaxConnections were open."),
		proxyRefused:  metric.Counter("brazesync_sftpd_proxy_refused_total", "Connections refused for their PROXY protocol header: sent by a peer that is not a trusted proxy, missing from a trusted proxy, or malformed."),
		sessions:      metric.Gauge("brazesync_sftpd_sessions", "Authenticated connections open now."),
		uploads:       metric.CounterVec("brazesync_sftpd_uploads_total", "Uploads, by outcome (complete, aborted, failed).", "outcome"),
		uploadBytes:   metric.Counter("brazesync_sftpd_upload_bytes_total", "Bytes of completed uploads."),
		quotaExceeded: metric.CounterVec("brazesync_sftpd_quota_exceeded_total", "Writes refused because a user's quota was exceeded, by kind (bytes, files).", "kind"),
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
