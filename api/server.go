// Package api is brazesync's HTTP API: accounts, tokens, authorizations,
// jobs, the operator views (asynqmon, metrics, health) and the route groups
// of the data domains (collect, profiles, audiences). Handlers translate
// HTTP to calls on internal packages and enqueue tasks through the tasks
// package; they hold no business logic.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/notify"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/tasks"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// Deps is everything the API needs.
type Deps struct {
	Redis          redis.UniversalClient
	Accounts       *accounts.Store
	Authorizations *authorizations.Store
	Jobs           *jobs.Store
	Enqueuer       tasks.Enqueuer
	// OperatorToken is BRAZESYNC_ADMIN_TOKEN ("" disables operator routes).
	OperatorToken string
	Logger        *slog.Logger
	// Registry receives the API's metrics; Gatherer serves /metrics.
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	// Monitoring is asynqmon's handler, mounted at /monitoring/ (optional),
	// for the operator token; MonitoringReadOnly (asynqmon with ReadOnly)
	// serves the monitor token, which has no admin scope.
	Monitoring         http.Handler
	MonitoringReadOnly http.Handler
	// MonitorToken is BRAZESYNC_MONITOR_TOKEN ("" for none).
	MonitorToken string
	// Groups are the route groups of the data domains.
	Groups []RouteGroup
	// AuthorizationTesters test connections of authorization types that
	// support it (POST .../authorizations/{id}/test).
	AuthorizationTesters map[string]AuthorizationTester
	// Types are the job types: the queue of each type's runs, and the
	// change hooks told about job changes (e.g. the export reconciles).
	Types *jobtype.Registry
	// RunTasks inspects the queued runs asked for through the API (an
	// *asynq.Inspector), so that a run is not started while another is
	// queued or running. Nil: a queued or running copy is still refused,
	// but a run that failed for good blocks the next until Asynq forgets it.
	RunTasks tasks.RunInspector
	// Notify checks jobs' notify settings and seals their signing secrets;
	// nil refuses notify settings (422).
	Notify *NotifySettings
}

// NotifySettings is what the API needs for jobs' notify settings.
type NotifySettings struct {
	Checker notify.Checker
	Box     *secrets.Box
}

// AuthorizationTester checks an authorization against its outside system.
// A failed test's error may carry a stable code (a Code() string method),
// shown beside its message.
type AuthorizationTester interface {
	Test(ctx context.Context, account, id string, pin bool) (map[string]any, error)
}

// Server is the HTTP API as a long-running component.
type Server struct {
	d       Deps
	router  *Router
	handler http.Handler

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

// New builds the API and its routes.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		reg := prometheus.NewRegistry()
		d.Registry, d.Gatherer = reg, reg
	}
	s := &Server{d: d}
	s.router = newRouter(d.Logger.With("component", "api"), authenticator{d.Accounts, d.OperatorToken, d.MonitorToken}, d.Registry)
	s.routes()
	for _, g := range d.Groups {
		g.Routes(s.router)
	}
	s.handler = s.router
	return s
}

type authenticator struct {
	s                 *accounts.Store
	operator, monitor string
}

func (a authenticator) Authenticate(ctx context.Context, tok string) (accounts.Principal, error) {
	return a.s.Authenticate(ctx, tok, a.operator, a.monitor)
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Router returns the router (for tests that check routes).
func (s *Server) Router() *Router { return s.router }

func (s *Server) routes() {
	r := s.router
	r.Handle("GET /healthz", Public, s.healthz)
	r.Handle("GET /readyz", Public, s.readyz)
	r.Handle("GET /openapi.json", Public, serveOpenAPI)
	if s.d.Gatherer != nil {
		// The operator token or the read-only monitor token (MonitorToken);
		// METRICS_ADDR serves the same without a token on an internal
		// listener.
		r.HandleHTTP("GET /metrics", OperatorRead, promhttp.HandlerFor(s.d.Gatherer, promhttp.HandlerOpts{}))
	}
	if s.d.Monitoring != nil {
		origins := http.NewCrossOriginProtection()
		r.Handle("/monitoring/", OperatorRead, func(w http.ResponseWriter, r *http.Request) error {
			// Browsers send Basic credentials with any request to this
			// origin, from any page: a state-changing request (pause a
			// queue, delete tasks) must show it comes from this origin.
			if err := origins.Check(r); err != nil {
				return errCrossOrigin
			}
			p, _ := PrincipalFrom(r.Context())
			switch {
			case p.HasScope(accounts.ScopeAdmin):
				s.d.Monitoring.ServeHTTP(w, r)
			case s.d.MonitoringReadOnly != nil:
				s.d.MonitoringReadOnly.ServeHTTP(w, r)
			default:
				return errForbidden
			}
			return nil
		})
	}
	s.accountRoutes(r)
	s.authorizationRoutes(r)
	s.jobRoutes(r)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// errCrossOrigin refuses a state-changing request from another origin.
var errCrossOrigin = &Error{Status: http.StatusForbidden, Code: "cross_origin",
	Message: "state-changing requests under /monitoring/ must come from the same origin (Origin or Sec-Fetch-Site names another site)"}

// ReadyTimeout bounds /readyz: it answers 503 once Redis has not answered
// a PING within it.
const ReadyTimeout = 2 * time.Second

// readyz answers within ReadyTimeout even when Redis accepts connections
// but never replies: the Redis client bounds its reads by its own timeouts
// and retries (seconds more), not by the context, so the PING runs aside
// and is abandoned at the deadline; its own timeouts end it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.d.Redis.Ping(ctx).Err() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("no answer within %s", ReadyTimeout)
	}
	if err != nil {
		s.d.Logger.WarnContext(r.Context(), "not ready: redis unavailable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "redis unavailable"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// account returns the {account} of the request after checking it exists
// (operators can name any account; account tokens exist by construction, but
// the account may have been removed).
func (s *Server) account(r *http.Request) (string, error) {
	acct := r.PathValue("account")
	ok, err := s.d.Accounts.Exists(r.Context(), acct)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", Errorf(http.StatusNotFound, "not_found", "account %q does not exist", acct)
	}
	return acct, nil
}

// Start listens on addr and serves until Stop. It returns once listening.
func (s *Server) Start(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until Stop; it returns at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("api: already started")
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.d.Logger.Handler(), slog.LevelWarn),
	}
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.d.Logger.Error("api server stopped", "err", err)
		}
	}()
	return nil
}

// Stop finishes requests in flight (up to ctx's deadline) and stops. It is
// idempotent and safe before Start.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	<-done
	return err
}
