package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/brazesync/brazesync/internal/config"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsComponent serves GET /metrics (the process's registry) and GET
// /healthz without a token on addr, an internal listener that only
// Prometheus reaches; envVar names the setting in errors. The API's own
// /metrics takes the operator or monitor token.
func (a *app) metricsComponent(name, envVar, addr string) component {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return component{
		name: name,
		start: func(context.Context) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return &config.Error{Var: envVar, Reason: err.Error()}
			}
			go func() {
				if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
					a.log.Error("metrics listener stopped", "listener", name, "addr", addr, "err", err)
				}
			}()
			a.log.Info("metrics listening", "listener", name, "addr", ln.Addr().String())
			return nil
		},
		stop: func() { stopWithin(a.log, "the metrics listener", 5*time.Second, srv.Shutdown) },
	}
}

// processMetrics is the METRICS_ADDR listener of the api, worker, scheduler
// and dev processes (none when METRICS_ADDR is unset).
func (a *app) processMetrics() components {
	if a.cfg.MetricsAddr == "" {
		return nil
	}
	return components{a.metricsComponent("metrics", "METRICS_ADDR", a.cfg.MetricsAddr)}
}
