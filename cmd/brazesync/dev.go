package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/embeddedredis"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/tasks"
)

func randomToken(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// devMasterKey returns a master key for dev: random for the embedded Redis
// (nothing persists anyway), kept in DATA_DIR for a real one so that sealed
// secrets survive a restart.
func devMasterKey(cfg *config.Config, embedded bool) ([]byte, error) {
	if embedded {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k, nil
	}
	path := filepath.Join(cfg.DataDir, "dev_master_key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err == nil && len(k) == 32 {
			return k, nil
		}
		return nil, fmt.Errorf("%s is not a base64 32-byte key", path)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return k, nil
}

func runDev(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := load(getenv, config.Dev)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	embedded := cfg.RedisURL == ""
	if embedded {
		er, err := embeddedredis.Start()
		if err != nil {
			return err
		}
		defer er.Close()
		cfg.RedisURL = er.URL()
	}
	if len(cfg.MasterKeys) == 0 {
		k, err := devMasterKey(cfg, embedded)
		if err != nil {
			return err
		}
		cfg.MasterKeys = [][]byte{k}
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = randomToken("bsop_", 24)
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	sim := brazesim.NewServer(or(getenv("BRAZE_SIM_ADDR"), "127.0.0.1:0"), brazesim.New(brazesim.Options{Logger: log}), log)
	if err := sim.Start(ctx); err != nil {
		return err
	}
	defer sim.Stop()
	demoAuth, err := a.devDemo(ctx, sim.URL())
	if err != nil {
		return err
	}

	srv, closeMon, err := a.apiServer()
	if err != nil {
		return err
	}
	defer closeMon()
	w := a.workerServer()
	sched := a.schedulerComponent()
	all := components{
		{"api", func(ctx context.Context) error { return srv.Start(ctx, cfg.HTTPAddr) }, func() { stopWithin(cfg.ShutdownTimeout, func(ctx context.Context) { _ = srv.Stop(ctx) }) }},
		{"worker", w.Start, w.Stop},
		{"scheduler", sched.Start, sched.Stop},
	}
	all = append(all, a.background()...)
	sftp, err := a.sftpdComponent(getenv)
	if err != nil {
		return err
	}
	all = append(all, sftp)
	all = append(all, a.processMetrics()...)
	if err := all.start(ctx); err != nil {
		return err
	}
	demoJob, err := a.devExportJob(ctx, demoAuth)
	if err != nil {
		all.stop()
		return err
	}
	base := "http://" + displayAddr(cfg.HTTPAddr)
	fmt.Fprintf(stdout, "brazesync dev is running\n")
	fmt.Fprintf(stdout, "  API:             %s/api/v1  (OpenAPI: %s/openapi.json)\n", base, base)
	fmt.Fprintf(stdout, "  Monitoring:      %s/monitoring/  (user any, password: the admin token)\n", base)
	fmt.Fprintf(stdout, "  Admin token:     %s\n", cfg.AdminToken)
	fmt.Fprintf(stdout, "  Braze simulator: %s  (demo account \"demo\", braze authorization %s)\n", sim.URL(), demoAuth)
	fmt.Fprintf(stdout, "  Managed SFTP:    %s  (sftp_managed authorizations)\n", displayAddr(cfg.SFTPAddr))
	fmt.Fprintf(stdout, "  Demo export:     job %s sends audience lytics_all of account demo to the simulator\n", demoJob)
	if embedded {
		fmt.Fprintf(stdout, "  WARNING: embedded in-memory Redis at %s: NOTHING PERSISTS; set REDIS_URL to keep data.\n", cfg.RedisURL)
	}
	fmt.Fprintf(stdout, "\nIn another shell, set the variables the README's examples use:\n")
	fmt.Fprintf(stdout, "  export API=%s T=%s S=%s\n", base, cfg.AdminToken, sim.URL())
	<-ctx.Done()
	fmt.Fprintln(stdout, "brazesync dev stopping")
	all.stop()
	return nil
}

// devDemo makes the "demo" account with a braze authorization pointing at
// the simulator, so that a new user can watch an export without Braze.
func (a *app) devDemo(ctx context.Context, simURL string) (string, error) {
	if _, err := a.accounts.Create(ctx, "demo", "Demo"); err != nil && !errors.Is(err, accounts.ErrExists) {
		return "", err
	}
	list, err := a.auths.List(ctx, "demo")
	if err != nil {
		return "", err
	}
	for _, au := range list {
		if au.Label == "Braze simulator" {
			_, err := a.auths.Update(ctx, "demo", au.ID, authorizations.Input{Config: map[string]any{"rest_endpoint": simURL}})
			return au.ID, err
		}
	}
	label := "Braze simulator"
	au, _, err := a.auths.Create(ctx, "demo", authorizations.Input{Type: "braze", Label: &label,
		Config: map[string]any{"rest_endpoint": simURL}, Secrets: map[string]string{"api_key": "demo-key"}})
	if err != nil {
		return "", err
	}
	return au.ID, nil
}

// devExportJob makes the demo export job (audience lytics_all to the
// simulator, flushing each user at once) unless it exists.
func (a *app) devExportJob(ctx context.Context, authID string) (string, error) {
	if _, err := a.audiences.EnsureDefaults(ctx, "demo"); err != nil {
		return "", err
	}
	list, err := a.jobs.List(ctx, "demo", false)
	if err != nil {
		return "", err
	}
	for _, j := range list {
		if j.Label == "Demo export" {
			return j.ID, nil
		}
	}
	label := "Demo export"
	j, err := a.jobs.Create(ctx, "demo", jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &authID,
		Config: map[string]any{"audiences": []any{"lytics_all"}, "existing_users": true, "flush_users": 1.0}})
	if err != nil {
		return "", err
	}
	if err := a.export.Changed(ctx, nil, j); err != nil {
		return "", err
	}
	if err := tasks.EnqueueRun(ctx, a.client, tasks.JobRun{Account: "demo", JobID: j.ID, Trigger: "create"}, a.types.Queue(j.Type)); err != nil {
		return "", err
	}
	return j.ID, nil
}

func displayAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
