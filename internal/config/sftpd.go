package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// SFTPD is the configuration of the managed SFTP server beyond Config:
// quotas, login lockouts and its metrics listener. Zero values leave the
// server's own defaults (sftpd.Config).
type SFTPD struct {
	// QuotaBytes and QuotaFiles are SFTP_QUOTA_BYTES and SFTP_QUOTA_FILES,
	// per user.
	QuotaBytes, QuotaFiles int64
	// MaxUserFailures, MaxUserGlobalFailures and MaxAddrFailures are
	// SFTP_MAX_USER_FAILURES, SFTP_MAX_USER_GLOBAL_FAILURES and
	// SFTP_MAX_ADDR_FAILURES: failed logins before a lockout.
	MaxUserFailures, MaxUserGlobalFailures, MaxAddrFailures int
	// FailureWindow and Lockout are SFTP_FAILURE_WINDOW and SFTP_LOCKOUT.
	FailureWindow, Lockout time.Duration
	// MetricsAddr is SFTP_METRICS_ADDR: an internal listener for /metrics
	// and /healthz ("" for none).
	MetricsAddr string
}

// LoadSFTPD reads the managed SFTP server's settings through getenv; only
// `brazesync sftpd` and `brazesync dev` read them.
func LoadSFTPD(getenv func(string) string) (*SFTPD, error) {
	c := &SFTPD{MetricsAddr: strings.TrimSpace(getenv("SFTP_METRICS_ADDR"))}
	for _, v := range []struct {
		name string
		dst  *int64
	}{{"SFTP_QUOTA_BYTES", &c.QuotaBytes}, {"SFTP_QUOTA_FILES", &c.QuotaFiles}} {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				return nil, &Error{Var: v.name, Reason: fmt.Sprintf("%q is not a positive whole number", s)}
			}
			*v.dst = n
		}
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{{"SFTP_MAX_USER_FAILURES", &c.MaxUserFailures}, {"SFTP_MAX_USER_GLOBAL_FAILURES", &c.MaxUserGlobalFailures}, {"SFTP_MAX_ADDR_FAILURES", &c.MaxAddrFailures}} {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000000 {
				return nil, &Error{Var: v.name, Reason: fmt.Sprintf("%q is not a whole number from 1 to 1000000", s)}
			}
			*v.dst = n
		}
	}
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{"SFTP_FAILURE_WINDOW", &c.FailureWindow}, {"SFTP_LOCKOUT", &c.Lockout}} {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < time.Second {
				return nil, &Error{Var: v.name, Reason: fmt.Sprintf("%q is not a duration of at least 1s such as 15m", s)}
			}
			*v.dst = d
		}
	}
	return c, nil
}

// ManagedEndpoint is the host and port written into sftp_managed
// authorizations: SFTP_PUBLIC_HOST (default SFTPPublicHostDefault) and the
// port of SFTP_PUBLIC_HOST if it has one, else the port of SFTP_ADDR. A
// bad value is an *Error; processes report it at start, and creating an
// sftp_managed authorization fails with it until it is fixed.
func (c *Config) ManagedEndpoint() (host string, port int, err error) {
	publicHost := c.SFTPPublicHost
	host = strings.TrimSpace(publicHost)
	if host == "" {
		host = SFTPPublicHostDefault
	}
	portStr := ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, portStr = h, p
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = strings.Trim(host, "[]")
	}
	if host == "" || strings.ContainsAny(host, " /@[]") {
		return "", 0, &Error{Var: "SFTP_PUBLIC_HOST", Reason: fmt.Sprintf("%q is not a host name or address (optionally with :port)", publicHost)}
	}
	if portStr == "" {
		_, p, err := net.SplitHostPort(c.SFTPAddr)
		if err != nil {
			return "", 0, &Error{Var: "SFTP_ADDR", Reason: fmt.Sprintf("%q is not host:port or :port", c.SFTPAddr)}
		}
		portStr = p
	}
	port, err = strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, &Error{Var: "SFTP_PUBLIC_HOST", Reason: fmt.Sprintf("the port %q (from SFTP_PUBLIC_HOST or SFTP_ADDR) is not a port number from 1 to 65535", portStr)}
	}
	return host, port, nil
}
