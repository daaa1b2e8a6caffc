package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/notify"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

const (
	operatorToken = "operator-token-for-tests-0123456789"
	monitorToken  = "monitor-token-for-tests-0123456789"
)

// recorder is an Enqueuer that records tasks instead of queueing them.
type recorder struct {
	mu    sync.Mutex
	tasks []*asynq.Task
}

func (r *recorder) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, t)
	return &asynq.TaskInfo{}, nil
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.tasks) }

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type bundle struct {
	srv      *Server
	http     *httptest.Server
	rdb      *redis.Client
	ns       string
	accounts *accounts.Store
	auths    *authorizations.Store
	jobs     *jobs.Store
	enq      *recorder
	logs     *syncBuffer
}

func setup(t *testing.T, groups ...RouteGroup) *bundle {
	t.Helper()
	rdb, ns := redistest.Client(t)
	return setupOn(t, rdb, ns, nil, groups...)
}

// setupOn is setup on rdb and ns; with queue set, runs go to Asynq through
// it (an *asynq.Client) and are inspected with an Inspector, else they are
// recorded in b.enq.
func setupOn(t *testing.T, rdb *redis.Client, ns keyspace.Namespace, queue tasks.Enqueuer, groups ...RouteGroup) *bundle {
	t.Helper()
	box, _ := secrets.NewBox(bytes.Repeat([]byte{9}, 32))
	b := &bundle{rdb: rdb, ns: string(ns), enq: &recorder{}, logs: &syncBuffer{}}
	var enq tasks.Enqueuer = b.enq
	var runTasks tasks.RunInspector
	if queue != nil {
		enq = queue
		insp := asynq.NewInspectorFromRedisClient(rdb)
		runTasks = insp
	}
	b.accounts = accounts.New(rdb, ns, nil)
	b.auths = authorizations.New(rdb, ns, box, authorizations.NewRegistry(authorizations.BrazeType(authorizations.BrazeOptions{AllowInsecure: true, AllowCustomEndpoints: true})))
	noRun := jobtype.RunnerFunc(func(context.Context, *jobs.Job, *jobs.Run) (string, error) { return jobs.OutcomeSuccess, nil })
	types, err := jobtype.NewRegistry(
		jobtype.Type{Name: "noop", Queue: tasks.QueueDefault, Run: noRun},
		jobtype.Type{Name: "needs_braze", Queue: tasks.QueueExport, AuthorizationTypes: []string{"braze"}, Run: noRun})
	if err != nil {
		t.Fatal(err)
	}
	b.jobs = jobs.New(rdb, ns, b.auths, nil, types.JobTypes()...)
	log := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.srv = New(Deps{Redis: rdb, Accounts: b.accounts, Authorizations: b.auths, Jobs: b.jobs, Types: types, Enqueuer: enq, RunTasks: runTasks, OperatorToken: operatorToken, Logger: log,
		Monitoring:         http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "asynqmon") }),
		MonitoringReadOnly: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "asynqmon read-only") }),
		MonitorToken:       monitorToken, Groups: groups,
		Notify: &NotifySettings{Checker: notify.Checker{}, Box: box}})
	b.http = httptest.NewServer(b.srv.Handler())
	t.Cleanup(b.http.Close)
	return b
}

// do sends a request with token tok and decodes the JSON answer.
func (b *bundle) do(t *testing.T, method, path, tok string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		bb, _ := json.Marshal(v)
		rd = bytes.NewReader(bb)
	}
	req, _ := http.NewRequest(method, b.http.URL+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// account creates an account and a token of each scope.
func (b *bundle) account(t *testing.T, id string) map[string]string {
	t.Helper()
	if code, out := b.do(t, "POST", "/api/v1/accounts", operatorToken, map[string]any{"id": id, "name": id}); code != 201 {
		t.Fatalf("create account: %d %v", code, out)
	}
	toks := map[string]string{}
	for _, sc := range []string{"admin", "data_manager", "read"} {
		code, out := b.do(t, "POST", "/api/v1/accounts/"+id+"/tokens", operatorToken, map[string]any{"name": sc, "scopes": []string{sc}})
		if code != 201 {
			t.Fatalf("create token: %d %v", code, out)
		}
		toks[sc] = out["token"].(string)
	}
	// A token made by a clock two hours behind, expiring an hour ago.
	past := accounts.New(b.rdb, keyspace.Namespace(b.ns), func() time.Time { return time.Now().Add(-2 * time.Hour) })
	exp := time.Now().Add(-time.Hour)
	_, expired, err := past.CreateToken(context.Background(), id, accounts.NewToken{Name: "expired", Scopes: []string{"admin"}, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	toks["expired"] = expired
	tok, revoked, _ := b.accounts.CreateToken(context.Background(), id, accounts.NewToken{Name: "revoked", Scopes: []string{"admin"}})
	b.accounts.RevokeToken(context.Background(), id, tok.ID)
	toks["revoked"] = revoked
	return toks
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}
