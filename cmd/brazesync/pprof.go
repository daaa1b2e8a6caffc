//go:build pprof

package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/brazesync/brazesync/internal/config"
)

// A binary built with -tags pprof (cmd/benchexport -profile) serves
// net/http/pprof on BRAZESYNC_PPROF_ADDR. Release builds have no such
// listener.
func init() {
	addr := config.PprofAddr(os.Getenv)
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		slog.Error("pprof listener", "addr", addr, "err", err)
		return
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil {
			slog.Error("pprof listener stopped", "addr", addr, "err", err)
		}
	}()
}
