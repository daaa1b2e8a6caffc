package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/sftpd"
)

// Wiring of the managed SFTP server (`brazesync sftpd`, the Procfile's sftp
// line): its configuration, the upload hook that starts the jobs an upload
// concerns (jobtype.Uploads), and its /metrics. sftp_managed
// authorizations are wired in wire_managed.go.

// sftpdConfig maps the environment onto the server's config: SFTP_ADDR,
// DATA_DIR, SHUTDOWN_TIMEOUT and SFTP_TRUSTED_PROXIES from cfg, quotas and
// brute-force limits from SFTP_QUOTA_BYTES, SFTP_QUOTA_FILES,
// SFTP_MAX_USER_FAILURES, SFTP_MAX_USER_GLOBAL_FAILURES,
// SFTP_MAX_ADDR_FAILURES, SFTP_FAILURE_WINDOW and SFTP_LOCKOUT (unset: the
// sftpd defaults).
func sftpdConfig(getenv func(string) string, cfg *config.Config) (sftpd.Config, error) {
	c := sftpd.Config{Addr: cfg.SFTPAddr, DataDir: cfg.DataDir, ShutdownTimeout: cfg.ShutdownTimeout, TrustedProxies: cfg.SFTPTrustedProxies}
	ints := []struct {
		name string
		dst  *int64
	}{{"SFTP_QUOTA_BYTES", &c.QuotaBytes}, {"SFTP_QUOTA_FILES", &c.QuotaFiles}}
	for _, v := range ints {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				return c, &config.Error{Var: v.name, Reason: fmt.Sprintf("%q is not a positive whole number", s)}
			}
			*v.dst = n
		}
	}
	counts := []struct {
		name string
		dst  *int
	}{{"SFTP_MAX_USER_FAILURES", &c.MaxUserFailures}, {"SFTP_MAX_USER_GLOBAL_FAILURES", &c.MaxUserGlobalFailures}, {"SFTP_MAX_ADDR_FAILURES", &c.MaxAddrFailures}}
	for _, v := range counts {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000000 {
				return c, &config.Error{Var: v.name, Reason: fmt.Sprintf("%q is not a whole number from 1 to 1000000", s)}
			}
			*v.dst = n
		}
	}
	durations := []struct {
		name string
		dst  *time.Duration
	}{{"SFTP_FAILURE_WINDOW", &c.FailureWindow}, {"SFTP_LOCKOUT", &c.Lockout}}
	for _, v := range durations {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < time.Second {
				return c, &config.Error{Var: v.name, Reason: fmt.Sprintf("%q is not a duration of at least 1s such as 15m", s)}
			}
			*v.dst = d
		}
	}
	return c, nil
}

// sftpdComponent is the managed SFTP server as a component: `brazesync
// sftpd` runs it alone, `brazesync dev` beside the others. Completed uploads
// start the jobs of their authorization that take them (jobtype.Uploads).
func (a *app) sftpdComponent(getenv func(string) string) (component, error) {
	cfg, err := sftpdConfig(getenv, a.cfg)
	if err != nil {
		return component{}, err
	}
	uploads := &jobtype.Uploads{Types: a.types, Jobs: a.jobs, Auths: a.auths, Enqueuer: a.client, Logger: a.log.With("component", "sftpd")}
	srv, err := sftpd.NewServer(a.rdb, a.ns, cfg, sftpd.Options{
		Sealer:     secrets.Purpose{Box: a.box, Purpose: hostKeyPurpose},
		Logger:     a.log,
		Registerer: a.registry,
		OnUpload: func(ctx context.Context, up sftpd.Upload) {
			uploads.Uploaded(ctx, up.Account, up.AuthID, up.Path)
		},
	})
	if err != nil {
		return component{}, fmt.Errorf("building the managed SFTP server: %w", err)
	}
	return component{
		name:  "sftpd",
		start: srv.Start,
		stop: func() {
			// Stop waits up to ShutdownTimeout for uploads, then closes
			// the connections; give it a little more than that.
			stopWithin(a.cfg.ShutdownTimeout+5*time.Second, func(ctx context.Context) { _ = srv.Stop(ctx) })
		},
	}, nil
}

// sftpMetricsComponent serves GET /metrics (the sftpd process's registry:
// logins, failures, lockouts, uploads, quotas) and GET /healthz on addr
// (SFTP_METRICS_ADDR), for Prometheus to scrape each sftpd replica.
func (a *app) sftpMetricsComponent(addr string) component {
	return a.metricsComponent("sftpd metrics", "SFTP_METRICS_ADDR", addr)
}

// runSFTPD runs the managed SFTP server until ctx ends (SIGTERM), then lets
// uploads in progress finish (SHUTDOWN_TIMEOUT). With SFTP_METRICS_ADDR it
// also serves /metrics there.
func runSFTPD(ctx context.Context, getenv func(string) string) error {
	a, err := openApp(ctx, getenv)
	if err != nil {
		return err
	}
	defer a.close()
	cfg, log := a.cfg, a.log
	c, err := a.sftpdComponent(getenv)
	if err != nil {
		return err
	}
	all := components{c}
	if addr := getenv("SFTP_METRICS_ADDR"); addr != "" {
		all = append(all, a.sftpMetricsComponent(addr))
	}
	if err := all.start(ctx); err != nil {
		return err
	}
	log.Info("sftpd running", "addr", cfg.SFTPAddr, "data_dir", cfg.DataDir, "metrics_addr", getenv("SFTP_METRICS_ADDR"),
		"trusted_proxies", len(cfg.SFTPTrustedProxies))
	<-ctx.Done()
	log.Info("sftpd stopping: letting uploads in progress finish", "timeout", cfg.ShutdownTimeout.String())
	all.stop()
	return nil
}
