package main

import (
	"context"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/sftpd"
)

// Wiring of the managed SFTP server (`brazesync sftpd`, the Procfile's sftp
// line): its configuration, the upload hook that starts the jobs an upload
// concerns (jobtype.Uploads), and its /metrics. sftp_managed
// authorizations are wired in wire_managed.go.

// sftpdConfig is the server's config: SFTP_ADDR, DATA_DIR,
// SHUTDOWN_TIMEOUT and SFTP_TRUSTED_PROXIES from cfg, quotas and lockouts
// from sc (unset: the sftpd defaults).
func sftpdConfig(cfg *config.Config, sc *config.SFTPD) sftpd.Config {
	return sftpd.Config{Addr: cfg.SFTPAddr, DataDir: cfg.DataDir, ShutdownTimeout: cfg.ShutdownTimeout, TrustedProxies: cfg.SFTPTrustedProxies,
		QuotaBytes: sc.QuotaBytes, QuotaFiles: sc.QuotaFiles,
		MaxUserFailures: sc.MaxUserFailures, MaxUserGlobalFailures: sc.MaxUserGlobalFailures, MaxAddrFailures: sc.MaxAddrFailures,
		FailureWindow: sc.FailureWindow, Lockout: sc.Lockout}
}

// sftpdComponent is the managed SFTP server as a component: `brazesync
// sftpd` runs it alone, `brazesync dev` beside the others. Completed uploads
// start the jobs of their authorization that take them (jobtype.Uploads).
func (a *app) sftpdComponent(sc *config.SFTPD) (component, error) {
	cfg := sftpdConfig(a.cfg, sc)
	uploads := &jobtype.Uploads{Types: a.types, Jobs: a.jobs, Auths: a.auths, Enqueuer: a.client, Logger: a.log.With("component", "sftpd")}
	srv, err := sftpd.NewServer(a.rdb, a.ns, cfg, sftpd.Options{
		Sealer:     sftpd.HostKeySealer(a.box),
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
			stopWithin(a.log, "the SFTP server", a.cfg.ShutdownTimeout+5*time.Second, srv.Stop)
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
	sc, err := config.LoadSFTPD(getenv)
	if err != nil {
		return err
	}
	c, err := a.sftpdComponent(sc)
	if err != nil {
		return err
	}
	all := components{c}
	if sc.MetricsAddr != "" {
		all = append(all, a.sftpMetricsComponent(sc.MetricsAddr))
	}
	if err := all.start(ctx); err != nil {
		return err
	}
	log.Info("sftpd running", "addr", cfg.SFTPAddr, "data_dir", cfg.DataDir, "metrics_addr", sc.MetricsAddr,
		"trusted_proxies", len(cfg.SFTPTrustedProxies))
	<-ctx.Done()
	log.Info("sftpd stopping: letting uploads in progress finish", "timeout", cfg.ShutdownTimeout.String())
	all.stop()
	return nil
}
