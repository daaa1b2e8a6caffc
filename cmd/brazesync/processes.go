package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/cli"
	"github.com/brazesync/brazesync/internal/config"
)

func load(getenv func(string) string, mode config.Mode) (*config.Config, error) {
	return config.Load(getenv, mode)
}

// stopWithin runs stop with a deadline d away, and logs its error: what
// names the component stopped.
func stopWithin(log *slog.Logger, what string, d time.Duration, stop func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("stopping "+what, "err", err)
	}
}

// openApp loads the production configuration and connects.
func openApp(ctx context.Context, getenv func(string) string) (*app, error) {
	cfg, err := load(getenv, config.Production)
	if err != nil {
		return nil, err
	}
	return newApp(ctx, cfg, newLogger(cfg.LogLevel))
}

func runAPI(ctx context.Context, getenv func(string) string) error {
	a, err := openApp(ctx, getenv)
	if err != nil {
		return err
	}
	defer a.close()
	cfg, log := a.cfg, a.log
	srv, closeMon, err := a.apiServer()
	if err != nil {
		return err
	}
	defer closeMon()
	metrics := a.processMetrics()
	if err := metrics.start(ctx); err != nil {
		return err
	}
	defer metrics.stop()
	if err := srv.Start(ctx, cfg.HTTPAddr); err != nil {
		return err
	}
	log.Info("api listening", "addr", cfg.HTTPAddr)
	<-ctx.Done()
	log.Info("api stopping: finishing requests in flight")
	stopWithin(a.log, "the API", cfg.ShutdownTimeout, srv.Stop)
	return nil
}

func runWorker(ctx context.Context, getenv func(string) string) error {
	config.SetWorkerGC(getenv)
	a, err := openApp(ctx, getenv)
	if err != nil {
		return err
	}
	defer a.close()
	cfg, log := a.cfg, a.log
	metrics := a.processMetrics()
	if err := metrics.start(ctx); err != nil {
		return err
	}
	defer metrics.stop()
	w := a.workerServer()
	if err := w.Start(ctx); err != nil {
		return err
	}
	bg := a.background()
	if err := bg.start(ctx); err != nil {
		w.Stop()
		return err
	}
	log.Info("worker running", "concurrency", cfg.WorkerConcurrency)
	<-ctx.Done()
	log.Info("worker stopping: letting running tasks finish", "timeout", cfg.ShutdownTimeout.String())
	bg.stop()
	w.Stop()
	return nil
}

func runScheduler(ctx context.Context, getenv func(string) string) error {
	a, err := openApp(ctx, getenv)
	if err != nil {
		return err
	}
	defer a.close()
	metrics := a.processMetrics()
	if err := metrics.start(ctx); err != nil {
		return err
	}
	defer metrics.stop()
	s := a.schedulerComponent()
	if err := s.Start(ctx); err != nil {
		return err
	}
	a.log.Info("scheduler running")
	<-ctx.Done()
	s.Stop()
	return nil
}

const brazeSimUsage = `Usage: brazesync braze-sim [FLAGS]

Runs a simulator of Braze's POST /users/track, with Braze's rate limit,
for trying exports without Braze: GET /_sim/stats and
GET /_sim/users/{external_id} show what it received.

Environment: LOG_LEVEL.

Flags:
`

// brazeSimFlags are the flags of `brazesync braze-sim`.
type brazeSimFlags struct {
	fs     *flag.FlagSet
	addr   *string
	limit  *int
	window *time.Duration
	keys   *string
}

func newBrazeSimFlags() brazeSimFlags {
	fs := flag.NewFlagSet("braze-sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return brazeSimFlags{
		fs:     fs,
		addr:   fs.String("addr", "127.0.0.1:9090", "listen address"),
		limit:  fs.Int("rate-limit", brazesim.RateLimitDefault, "requests per key per window"),
		window: fs.Duration("rate-window", 3*time.Second, "rate-limit window"),
		keys:   fs.String("keys", "", "comma-separated accepted API keys (empty: any)"),
	}
}

func brazeSimCommand(getenv func(string) string, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name: "braze-sim", Summary: "a Braze /users/track simulator (--addr)",
		Usage: brazeSimUsage + flagDefaults(newBrazeSimFlags().fs),
		Run: func(ctx context.Context, args []string) error {
			f := newBrazeSimFlags()
			if err := f.fs.Parse(args); err != nil {
				return cli.Usagef("%v", err)
			}
			if f.fs.NArg() > 0 {
				return cli.Usagef("takes flags only (got %q)", f.fs.Arg(0))
			}
			return runBrazeSim(ctx, f, getenv, stdout)
		},
	}
}

func runBrazeSim(ctx context.Context, f brazeSimFlags, getenv func(string) string, stdout io.Writer) error {
	cfg, err := load(getenv, config.Dev)
	if err != nil {
		return err
	}
	opts := brazesim.Options{RateLimit: *f.limit, RateWindow: *f.window, Logger: newLogger(cfg.LogLevel)}
	if *f.keys != "" {
		opts.APIKeys = splitComma(*f.keys)
	}
	srv := brazesim.NewServer(*f.addr, brazesim.New(opts), nil)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Braze simulator on http://%s (POST /users/track, GET /_sim/stats, GET /_sim/users/{external_id})\n", srv.Addr())
	<-ctx.Done()
	srv.Stop()
	return nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
