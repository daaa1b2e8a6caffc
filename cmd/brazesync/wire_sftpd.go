package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/sftpd"
	"github.com/brazesync/brazesync/tasks"
)

// Wiring of the managed SFTP server (`brazesync sftpd`, the Procfile's sftp
// line): its configuration, the upload hook that starts import jobs, and
// its /metrics. sftp_managed authorizations are wired in wire_managed.go.

// uploadTrigger starts the import jobs of an sftp_managed authorization when
// a file is uploaded to it (the sftpd upload hook).
type uploadTrigger struct {
	users    *sftpd.UserStore
	auths    *authorizations.Store
	jobs     *jobs.Store
	enqueuer tasks.Enqueuer
	log      *slog.Logger
}

// onUpload enqueues a run (trigger "upload") of every csv_import job of the
// user's authorization that is running or completed (not paused, failed or
// deleted) and whose folder and file selection take the uploaded path.
// It runs before the client's close is answered.
func (t *uploadTrigger) onUpload(ctx context.Context, acct, username, p string) {
	log := t.log.With(slog.String("account", acct), slog.String("username", username), slog.String("path", p))
	u, err := t.users.LookupUser(ctx, username)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "upload hook: looking up the sftp user", slog.String("error", err.Error()))
		return
	}
	authFolder := ""
	if au, err := t.auths.Get(ctx, acct, u.AuthID); err == nil {
		authFolder, _ = authorizations.ConfigString(au.Config, "folder")
	} else if errors.Is(err, authorizations.ErrNotFound) {
		return // deleted meanwhile: no job may use it
	}
	list, err := t.jobs.List(ctx, acct, false)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "upload hook: listing jobs", slog.String("error", err.Error()))
		return
	}
	for _, j := range list {
		if j.Type != tasks.JobTypeCSVImport || j.AuthorizationID != u.AuthID ||
			(j.State != jobs.StateRunning && j.State != jobs.StateCompleted) || !takesUpload(j, authFolder, p) {
			continue
		}
		if err := tasks.EnqueueRun(ctx, t.enqueuer, tasks.JobRun{Account: acct, JobID: j.ID, Trigger: "upload"}, tasks.QueueFor(j.Type)); err != nil {
			log.LogAttrs(ctx, slog.LevelError, "upload hook: enqueueing the import", slog.String("job", j.ID), slog.String("error", err.Error()))
			continue
		}
		log.LogAttrs(ctx, slog.LevelInfo, "upload starts import", slog.String("job", j.ID))
	}
}

// takesUpload reports whether the import job j would pick the uploaded file
// p (an SFTP path such as "/exports/users.csv"): p is in the job's folder
// (else the authorization's folder authFolder, else the root; relative
// folders start at the root, the managed session's working directory) and
// its name is selected. A config the job cannot parse takes every upload
// (the run then records the problem).
func takesUpload(j jobs.Job, authFolder, p string) bool {
	c, err := importjob.ParseConfig(j.Config)
	if err != nil {
		return true
	}
	folder := c.Folder
	if folder == "" {
		folder = authFolder
	}
	folder = path.Clean("/" + folder)
	return path.Dir(path.Clean("/"+p)) == folder && c.Select.Match(path.Base(p))
}

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
// start the import jobs of their authorization (uploadTrigger).
func (a *app) sftpdComponent(getenv func(string) string) (component, error) {
	cfg, err := sftpdConfig(getenv, a.cfg)
	if err != nil {
		return component{}, err
	}
	users, err := sftpd.NewUserStore(a.rdb, a.ns, 0)
	if err != nil {
		return component{}, err
	}
	trigger := &uploadTrigger{users: users, auths: a.auths, jobs: a.jobs, enqueuer: a.client, log: a.log.With("component", "sftpd")}
	srv, err := sftpd.NewServer(a.rdb, a.ns, cfg, sftpd.Options{
		Sealer:     secrets.Purpose{Box: a.box, Purpose: hostKeyPurpose},
		Logger:     a.log,
		Registerer: a.registry,
		OnUpload:   trigger.onUpload,
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
