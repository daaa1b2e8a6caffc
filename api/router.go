package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/metric"
	"github.com/prometheus/client_golang/prometheus"
)

// Access says who may call a route.
type Access struct {
	// Operator routes take only the operator token.
	Operator bool
	// Public routes take no token.
	Public bool
	// Scope is the scope needed on the account named by the {account} path
	// value (or, when the path has none, the token's own account).
	Scope string
}

// Access levels.
var (
	Public       = Access{Public: true}
	OperatorOnly = Access{Operator: true, Scope: accounts.ScopeAdmin}
	// OperatorRead takes the operator token or the read-only monitor token.
	OperatorRead = Access{Operator: true, Scope: accounts.ScopeRead}
	Read         = Access{Scope: accounts.ScopeRead}
	DataManager  = Access{Scope: accounts.ScopeDataManager}
	Admin        = Access{Scope: accounts.ScopeAdmin}
)

// HandlerFunc is an API handler: it answers, or returns an error that the
// router translates into a JSON error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// RouteGroup is a set of routes that registers itself on a Router. Each
// domain (collect, profiles, audiences, ...) provides one.
type RouteGroup interface {
	Routes(r *Router)
}

// Router wraps http.ServeMux with authentication, scope checks, JSON errors,
// request ids, panics caught, logs and metrics. It records its patterns so
// that a test can hold them against the OpenAPI document.
type Router struct {
	mux      *http.ServeMux
	log      *slog.Logger
	auth     Authenticator
	patterns []string
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// Authenticator turns a token into a principal.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (accounts.Principal, error)
}

func newRouter(log *slog.Logger, auth Authenticator, reg prometheus.Registerer) *Router {
	rt := &Router{
		mux: http.NewServeMux(), log: log, auth: auth,
		requests: metric.CounterVec("brazesync_http_requests_total", "HTTP requests by route and status.", "route", "status"),
		latency:  metric.HistogramVec("brazesync_http_request_seconds", "HTTP request latency by route.", []float64{.001, .0025, .005, .01, .025, .05, .1, .25, 1, 5}, "route"),
	}
	reg.MustRegister(rt.requests, rt.latency)
	return rt
}

// Patterns returns the registered route patterns, sorted.
func (rt *Router) Patterns() []string {
	out := append([]string(nil), rt.patterns...)
	sort.Strings(out)
	return out
}

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
)

// PrincipalFrom returns the authenticated principal of a request.
func PrincipalFrom(ctx context.Context) (accounts.Principal, bool) {
	p, ok := ctx.Value(principalKey).(accounts.Principal)
	return p, ok
}

// RequestID returns the request's id.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// TokenFrom extracts a token: "Authorization: Bearer T", a bare
// "Authorization: T" (Lytics style), "?key=T" or "?access_token=T".
func TokenFrom(r *http.Request) string {
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		if t, ok := strings.CutPrefix(h, "bearer "); ok {
			return strings.TrimSpace(t)
		}
		if _, pw, ok := r.BasicAuth(); ok {
			return pw
		}
		return h
	}
	q := r.URL.Query()
	if k := q.Get("key"); k != "" {
		return k
	}
	return q.Get("access_token")
}

// apiPrefixes are the paths whose answers are JSON: the API and the
// collect endpoint.
var apiPrefixes = []string{"/api/", "/c/", "/collect/"}

// ServeHTTP serves the routes. Under the API's prefixes, a path that
// http.ServeMux would redirect to its cleaned form (an empty segment, as
// in .../runs//rejected with the run id left out, or a dot segment) and a
// path no route takes are a JSON 404 not_found, and a method a path does
// not take a JSON 405 method_not_allowed (with Allow), not a redirect or a
// text page.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !slices.ContainsFunc(apiPrefixes, func(p string) bool { return strings.HasPrefix(r.URL.Path, p) }) {
		rt.mux.ServeHTTP(w, r)
		return
	}
	if p := r.URL.EscapedPath(); cleanPath(p) != p {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": &Error{Code: "not_found",
			Message: "no such path: " + p + " has an empty segment (//) or a . or .. segment; is an id missing?"}})
		return
	}
	if _, pattern := rt.mux.Handler(r); pattern == "" {
		rt.mux.ServeHTTP(&jsonMuxError{ResponseWriter: w, method: r.Method, path: r.URL.EscapedPath()}, r)
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// cleanPath is the path http.ServeMux serves p as: path.Clean, keeping a
// trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// jsonMuxError turns the ServeMux's text 404 and 405 into the API's JSON
// errors: not_found, and method_not_allowed naming the methods the path
// takes (its Allow header stays).
type jsonMuxError struct {
	http.ResponseWriter
	method, path string
	answered     bool
}

func (w *jsonMuxError) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		writeJSON(w.ResponseWriter, code, map[string]any{"error": &Error{Code: "not_found", Message: "no such path: " + w.path + " (GET /openapi.json lists the API's paths)"}})
	case http.StatusMethodNotAllowed:
		writeJSON(w.ResponseWriter, code, map[string]any{"error": methodNotAllowed(w.method, w.path, w.Header().Get("Allow"))})
	default:
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.answered = true
}

func (w *jsonMuxError) Write(b []byte) (int, error) {
	if w.answered {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// methodNotAllowed is the 405 of a method path does not take.
func methodNotAllowed(method, path, allow string) *Error {
	return &Error{Code: "method_not_allowed", Message: method + " " + path + " is not an operation; the path takes " + allow}
}

// Handle registers h for pattern ("METHOD /path/{var}") with access rules.
func (rt *Router) Handle(pattern string, access Access, h HandlerFunc) {
	rt.patterns = append(rt.patterns, pattern)
	rt.mux.Handle(pattern, rt.wrap(pattern, access, h))
}

// Refuse answers 405 Method Not Allowed (allowing allow), as the mux does
// for a method a path does not take, to methods of a literal path that a
// pattern with a wildcard would otherwise serve (GET /jobs/preview would be
// GET /jobs/{id}). It describes no operation, so it is not among Patterns.
func (rt *Router) Refuse(path, allow string, methods ...string) {
	for _, m := range methods {
		rt.mux.HandleFunc(m+" "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": methodNotAllowed(r.Method, r.URL.EscapedPath(), allow)})
		})
	}
}

// HandleHTTP registers a plain http.Handler (e.g. asynqmon) with access rules.
func (rt *Router) HandleHTTP(pattern string, access Access, h http.Handler) {
	rt.Handle(pattern, access, func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (rt *Router) wrap(route string, access Access, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				rt.log.ErrorContext(ctx, "panic in handler", "route", route, "panic", v, "request_id", id)
				if sw.status == 0 {
					writeJSON(sw, http.StatusInternalServerError, map[string]any{"error": &Error{Code: "internal", Message: "internal error; the request id identifies it in the logs"}})
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			rt.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
			rt.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
			rt.log.DebugContext(ctx, "request", "route", route, "status", status, "duration_ms", time.Since(start).Milliseconds(), "request_id", id)
		}()
		if err := rt.authorize(r, access); err != nil {
			if errors.Is(err, errNeedsBasicAuth) {
				sw.Header().Set("WWW-Authenticate", `Basic realm="brazesync"`)
				err = errUnauthorized
			}
			writeError(sw, r, rt.log, err)
			return
		}
		if err := h(sw, r); err != nil {
			writeError(sw, r, rt.log, err)
		}
	})
}

var errNeedsBasicAuth = errors.New("basic auth needed")

func (rt *Router) authorize(r *http.Request, access Access) error {
	if access.Public {
		return nil
	}
	tok := TokenFrom(r)
	if tok == "" {
		if access.Operator {
			return errNeedsBasicAuth
		}
		return errUnauthorized
	}
	p, err := rt.auth.Authenticate(r.Context(), tok)
	if errors.Is(err, accounts.ErrInvalidToken) {
		if access.Operator {
			return errNeedsBasicAuth
		}
		return errUnauthorized
	}
	if err != nil {
		return err
	}
	*r = *r.WithContext(context.WithValue(r.Context(), principalKey, p))
	if access.Operator {
		if !p.Operator || !p.HasScope(access.Scope) {
			return errForbidden
		}
		return nil
	}
	acct := r.PathValue("account")
	if acct == "" {
		acct = p.Account
	}
	if !p.Has(acct, access.Scope) {
		return errForbidden
	}
	return nil
}
