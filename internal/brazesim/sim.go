// Package brazesim is a Braze REST API simulator for POST /users/track.
//
// It is part of the product: `brazesync braze-sim --addr ADDR` serves it,
// `brazesync dev` points exports at it, and tests run it under httptest. It
// follows Braze's documented behaviour of /users/track: bearer keys, 75
// objects per request, the 4 MB body limit, per-object identifier validation
// with a partial "errors" array, array attribute add/remove semantics, fixed
// window rate limits per key with X-RateLimit-* headers, and 429s. Faults
// (5xx, 429, latency, hanging requests, dropped connections) can be injected
// at runtime, deterministically from a seed.
//
// For inspection it serves GET /_sim/users/{external_id},
// GET /_sim/lookup?kind=email&value=a@x.io (any identifier kind; user_alias
// values are "label:name"), GET /_sim/stats,
// GET and POST /_sim/faults and POST /_sim/reset, and the same through the
// Go API (User, UserBy, Stats, SetFaults, Reset).
package brazesim

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Defaults of Options.
const (
	RateLimitDefault  = 3000
	RateWindowDefault = 3 * time.Second
	MaxObjectsDefault = 75
	MaxBodyDefault    = 4 << 20 // 4 MB
	ArrayLimitDefault = 500
)

// Options configures a Sim. Zero fields take their defaults.
type Options struct {
	// APIKeys are the accepted REST API keys. Empty accepts any non-empty
	// key.
	APIKeys []string
	// ForbiddenKeys are keys that authenticate but lack the users.track
	// permission: they get 403.
	ForbiddenKeys []string
	// RateLimit is the number of requests per key per RateWindow (a fixed
	// window aligned on the Unix epoch, like Braze). Default 3000.
	RateLimit int
	// RateWindow is the rate-limit window. Default 3s.
	RateWindow time.Duration
	// MaxObjects is the most attributes+events+purchases objects in one
	// request. Default 75.
	MaxObjects int
	// MaxBody is the largest accepted body in bytes. Default 4 MB.
	MaxBody int64
	// ArrayLimit is the most elements an array attribute keeps. As in
	// Braze, an array that would grow longer drops its oldest elements
	// (the first ones) to make room. Default 500, Braze's default
	// maximum array length.
	ArrayLimit int
	// Seed makes fault injection deterministic. Default 1.
	Seed uint64
	// Faults are the faults injected from the start.
	Faults Faults
	// Now is the clock of the rate-limit windows. Default time.Now.
	Now func() time.Time
	// Logger receives one line per injected fault and per rejected
	// request. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.RateLimit <= 0 {
		o.RateLimit = RateLimitDefault
	}
	if o.RateWindow <= 0 {
		o.RateWindow = RateWindowDefault
	}
	if o.MaxObjects <= 0 {
		o.MaxObjects = MaxObjectsDefault
	}
	if o.MaxBody <= 0 {
		o.MaxBody = MaxBodyDefault
	}
	if o.ArrayLimit <= 0 {
		o.ArrayLimit = ArrayLimitDefault
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Sim is the simulator. It is an http.Handler, safe for concurrent use.
type Sim struct {
	opts      Options
	keys      map[string]bool // accepted keys; nil accepts any
	forbidden map[string]bool
	log       *slog.Logger
	mux       *http.ServeMux
	users     *userStore
	meters    *meters
	faults    *faultInjector

	closeOnce sync.Once
	closing   chan struct{} // closed by Close: releases hanging requests
}

// New returns a simulator configured by opts.
func New(opts Options) *Sim {
	opts = opts.withDefaults()
	s := &Sim{
		opts:    opts,
		log:     opts.Logger.With("component", "brazesim"),
		users:   newUserStore(),
		meters:  newMeters(),
		faults:  newFaultInjector(opts.Seed, opts.Faults),
		closing: make(chan struct{}),
	}
	if len(opts.APIKeys) > 0 {
		s.keys = make(map[string]bool, len(opts.APIKeys))
		for _, k := range opts.APIKeys {
			s.keys[k] = true
		}
	}
	s.forbidden = make(map[string]bool, len(opts.ForbiddenKeys))
	for _, k := range opts.ForbiddenKeys {
		s.forbidden[k] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /users/track", s.handleTrack)
	mux.HandleFunc("GET /_sim/users/{external_id}", s.handleUser)
	mux.HandleFunc("GET /_sim/lookup", s.handleLookup)
	mux.HandleFunc("GET /_sim/stats", s.handleStats)
	mux.HandleFunc("GET /_sim/faults", s.handleGetFaults)
	mux.HandleFunc("POST /_sim/faults", s.handleSetFaults)
	mux.HandleFunc("POST /_sim/reset", s.handleReset)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found: " + r.Method + " " + r.URL.Path})
	})
	s.mux = mux
	return s
}

// ServeHTTP serves the Braze API and the /_sim inspection endpoints.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close releases requests that a timeout fault holds open. The Sim still
// serves afterwards, but timeout faults answer 504 at once.
func (s *Sim) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// Reset forgets every user and every counter and clears rate-limit windows.
// Faults are kept.
func (s *Sim) Reset() {
	s.users.reset()
	s.meters.reset()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(fmt.Sprintf(`{"message":%q}`, err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
