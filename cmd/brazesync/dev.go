package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/demo"
	"github.com/brazesync/brazesync/internal/embeddedredis"
)

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
	if err := cfg.DevDefaults(embedded); err != nil {
		return err
	}
	sc, err := config.LoadSFTPD(getenv)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	sim := brazesim.NewServer(cfg.BrazeSimAddr, brazesim.New(brazesim.Options{Logger: log}), log)
	if err := sim.Start(ctx); err != nil {
		return err
	}
	defer sim.Stop()
	dm := &demo.Demo{Accounts: a.accounts, Authorizations: a.auths, Audiences: a.audiences, Jobs: a.jobs, Types: a.types, Enqueuer: a.client}
	demoAuth, err := dm.BrazeAuthorization(ctx, sim.URL())
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
		{"api", func(ctx context.Context) error { return srv.Start(ctx, cfg.HTTPAddr) }, func() { stopWithin(a.log, "the API", cfg.ShutdownTimeout, srv.Stop) }},
		{"worker", w.Start, w.Stop},
		{"scheduler", sched.Start, sched.Stop},
	}
	all = append(all, a.background()...)
	sftp, err := a.sftpdComponent(sc)
	if err != nil {
		return err
	}
	all = append(all, sftp)
	all = append(all, a.processMetrics()...)
	if err := all.start(ctx); err != nil {
		return err
	}
	demoJob, err := dm.ExportJob(ctx, demoAuth)
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
	fmt.Fprintf(stdout, "\nIn another shell, set the variables the README's examples and brazesync ctl use:\n")
	fmt.Fprintf(stdout, "  export API=%s T=%s S=%s BRAZESYNC_URL=%s BRAZESYNC_TOKEN=%s\n", base, cfg.AdminToken, sim.URL(), base, cfg.AdminToken)
	<-ctx.Done()
	fmt.Fprintln(stdout, "brazesync dev stopping")
	all.stop()
	return nil
}

func displayAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}
