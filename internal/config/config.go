// Package config reads brazesync's configuration from environment variables
// (twelve-factor). Every variable, its default and its validation live here
// and nowhere else.
package config

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults of every setting.
const (
	HTTPAddrDefault          = ":8080"
	SFTPAddrDefault          = ":2022"
	SFTPPublicHostDefault    = "127.0.0.1"
	DataDirDefault           = "./data"
	WorkerConcurrencyDefault = 10
	LogLevelDefault          = "info"
	ShutdownTimeoutDefault   = 30 * time.Second
	// BrazeSimAddrDefault is BRAZE_SIM_ADDR: `brazesync dev` runs its Braze
	// simulator on a free loopback port.
	BrazeSimAddrDefault = "127.0.0.1:0"
	// ImportRejectedRetentionDefault is how long an import run's rejected
	// rows are kept (IMPORT_REJECTED_RETENTION).
	ImportRejectedRetentionDefault = 7 * 24 * time.Hour
	// EgressAllowDevDefault is BRAZESYNC_EGRESS_ALLOW under `brazesync dev`:
	// its Braze simulator and managed SFTP server are on loopback.
	EgressAllowDevDefault = "127.0.0.0/8,::1/128"
)

// Config is the whole configuration of a brazesync process.
type Config struct {
	// RedisURL is REDIS_URL: redis://, rediss://, redis-sentinel:// or a
	// cluster form; empty means "embedded Redis" in dev and is an error
	// elsewhere.
	RedisURL string
	// MasterKeys are BRAZESYNC_MASTER_KEY: one or more 32-byte keys, base64,
	// comma separated; the first encrypts, all decrypt.
	MasterKeys [][]byte
	// AdminToken is BRAZESYNC_ADMIN_TOKEN, the operator token.
	AdminToken string
	// MonitorToken is BRAZESYNC_MONITOR_TOKEN: an optional global token with
	// the read scope only (asynqmon read-only, read routes of every account).
	MonitorToken string
	// HTTPAddr is HTTP_ADDR.
	HTTPAddr string
	// SFTPAddr is SFTP_ADDR.
	SFTPAddr string
	// SFTPPublicHost is SFTP_PUBLIC_HOST: where customers and workers reach
	// the managed SFTP server, "host" or "host:port" (when the public port
	// is not SFTP_ADDR's, e.g. behind a load balancer).
	SFTPPublicHost string
	// DataDir is DATA_DIR (managed SFTP storage, import staging).
	DataDir string
	// WorkerConcurrency is WORKER_CONCURRENCY.
	WorkerConcurrency int
	// LogLevel is LOG_LEVEL: debug, info, warn or error.
	LogLevel slog.Level
	// ShutdownTimeout is SHUTDOWN_TIMEOUT: how long running tasks and
	// requests may take to finish after SIGTERM.
	ShutdownTimeout time.Duration
	// AllowInsecureEndpoints is BRAZESYNC_ALLOW_INSECURE_ENDPOINTS: plain
	// http Braze endpoints are accepted (a simulator). Default false, true
	// in dev.
	AllowInsecureEndpoints bool
	// AllowCustomBrazeEndpoints is BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS:
	// Braze endpoints outside Braze's domains (*.braze.com, *.braze.eu) are
	// accepted. Default false, true in dev.
	AllowCustomBrazeEndpoints bool
	// EgressAllow is BRAZESYNC_EGRESS_ALLOW: comma-separated CIDRs (or
	// single addresses) that customer-supplied destinations may reach even
	// though they are loopback, private, link-local and so on. Default
	// none, EgressAllowDevDefault in dev.
	EgressAllow []netip.Prefix
	// SFTPTrustedProxies is SFTP_TRUSTED_PROXIES: the load balancers whose
	// PROXY protocol header sftpd believes (trustedProxies).
	SFTPTrustedProxies []netip.Prefix
	// MetricsAddr is METRICS_ADDR: an optional internal listener that
	// serves /metrics without a token ("" for none).
	MetricsAddr string
	// BrazeSimAddr is BRAZE_SIM_ADDR, where `brazesync dev` serves its
	// Braze simulator.
	BrazeSimAddr string
	// ImportRejectedRetention is IMPORT_REJECTED_RETENTION: how long the
	// rejected rows of an import run are kept (from 1m to 8784h).
	ImportRejectedRetention time.Duration
}

// Error is an invalid setting. Its message names the variable.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return e.Var + ": " + e.Reason }

// Mode says which rules apply: Dev allows missing REDIS_URL and master key.
type Mode int

// Modes.
const (
	Production Mode = iota
	Dev
)

// Load reads the configuration through getenv (os.Getenv in main) and
// validates it.
func Load(getenv func(string) string, mode Mode) (*Config, error) {
	c := &Config{
		RedisURL:       strings.TrimSpace(getenv("REDIS_URL")),
		AdminToken:     getenv("BRAZESYNC_ADMIN_TOKEN"),
		MonitorToken:   getenv("BRAZESYNC_MONITOR_TOKEN"),
		HTTPAddr:       or(getenv("HTTP_ADDR"), HTTPAddrDefault),
		SFTPAddr:       or(getenv("SFTP_ADDR"), SFTPAddrDefault),
		SFTPPublicHost: or(getenv("SFTP_PUBLIC_HOST"), SFTPPublicHostDefault),
		DataDir:        or(getenv("DATA_DIR"), DataDirDefault),
		MetricsAddr:    strings.TrimSpace(getenv("METRICS_ADDR")),
		BrazeSimAddr:   or(getenv("BRAZE_SIM_ADDR"), BrazeSimAddrDefault),
	}
	var err error
	if c.WorkerConcurrency, err = intVar(getenv, "WORKER_CONCURRENCY", WorkerConcurrencyDefault, 1, 1000); err != nil {
		return nil, err
	}
	if c.LogLevel, err = levelVar(getenv("LOG_LEVEL")); err != nil {
		return nil, err
	}
	if c.ShutdownTimeout, err = durationVar(getenv, "SHUTDOWN_TIMEOUT", ShutdownTimeoutDefault); err != nil {
		return nil, err
	}
	if c.ImportRejectedRetention, err = durationVar(getenv, "IMPORT_REJECTED_RETENTION", ImportRejectedRetentionDefault); err != nil {
		return nil, err
	}
	if c.ImportRejectedRetention < time.Minute || c.ImportRejectedRetention > 8784*time.Hour {
		return nil, &Error{"IMPORT_REJECTED_RETENTION", fmt.Sprintf("%s is not from 1m to 8784h (366 days)", c.ImportRejectedRetention)}
	}
	if c.AllowInsecureEndpoints, err = boolVar(getenv, "BRAZESYNC_ALLOW_INSECURE_ENDPOINTS", mode == Dev); err != nil {
		return nil, err
	}
	if c.AllowCustomBrazeEndpoints, err = boolVar(getenv, "BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS", mode == Dev); err != nil {
		return nil, err
	}
	allow := getenv("BRAZESYNC_EGRESS_ALLOW")
	if allow == "" && mode == Dev {
		allow = EgressAllowDevDefault
	}
	if c.EgressAllow, err = prefixes("BRAZESYNC_EGRESS_ALLOW", allow); err != nil {
		return nil, err
	}
	if c.SFTPTrustedProxies, err = trustedProxies(getenv("SFTP_TRUSTED_PROXIES")); err != nil {
		return nil, err
	}
	if c.MasterKeys, err = masterKeys(getenv("BRAZESYNC_MASTER_KEY")); err != nil {
		return nil, err
	}
	if mode == Production {
		if c.RedisURL == "" {
			return nil, &Error{"REDIS_URL", "is required (e.g. redis://127.0.0.1:6379/0); only `brazesync dev` runs without it"}
		}
		if len(c.MasterKeys) == 0 {
			return nil, &Error{"BRAZESYNC_MASTER_KEY", "is required: 32 random bytes, base64 (openssl rand -base64 32)"}
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return nil, &Error{"BRAZESYNC_ADMIN_TOKEN", "is too short: use at least 16 characters"}
	}
	if c.MonitorToken != "" && (len(c.MonitorToken) < 16 || c.MonitorToken == c.AdminToken) {
		return nil, &Error{"BRAZESYNC_MONITOR_TOKEN", "must be at least 16 characters and differ from BRAZESYNC_ADMIN_TOKEN"}
	}
	return c, nil
}

// LogLevel reads LOG_LEVEL alone, for the logging a process sets up before
// Load runs.
func LogLevel(getenv func(string) string) (slog.Level, error) {
	return levelVar(getenv("LOG_LEVEL"))
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func intVar(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &Error{name, fmt.Sprintf("%q is not a whole number from %d to %d", v, lo, hi)}
	}
	return n, nil
}

func boolVar(getenv func(string) string, name string, def bool) (bool, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &Error{name, fmt.Sprintf("%q is not true or false", v)}
	}
	return b, nil
}

func durationVar(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &Error{name, fmt.Sprintf("%q is not a duration such as 30s", v)}
	}
	return d, nil
}

func levelVar(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, &Error{"LOG_LEVEL", fmt.Sprintf("%q is not one of debug, info, warn, error", v)}
}

// prefixes reads a comma-separated list of CIDRs; a bare address is a
// range of one.
func prefixes(name, v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil || a.Zone() != "" {
				return nil, &Error{name, fmt.Sprintf("%q is not a CIDR such as 10.0.0.0/8 or fd00::/8", part)}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func masterKeys(v string) ([][]byte, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var keys [][]byte
	for i, part := range strings.Split(v, ",") {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(part))
		if err != nil || len(k) != 32 {
			return nil, &Error{"BRAZESYNC_MASTER_KEY", fmt.Sprintf("key %d is not 32 bytes in base64", i+1)}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// PprofAddr is BRAZESYNC_PPROF_ADDR: the address on which a binary built
// with -tags pprof (cmd/benchexport -profile does) serves net/http/pprof,
// or "" for none. Release builds never read it.
func PprofAddr(getenv func(string) string) string { return getenv("BRAZESYNC_PPROF_ADDR") }
