package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

type audienceBundle struct {
	*bundle
	svc      *audiences.Service
	profiles *profiles.Store
	mu       sync.Mutex
	reevals  []string
}

// EnqueueContext records the re-evaluations the API enqueues.
func (a *audienceBundle) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	var p tasks.AudienceReevaluate
	if t.Type() != tasks.TypeAudienceReevaluate {
		return nil, fmt.Errorf("unexpected task %s", t.Type())
	}
	if err := tasks.Decode(t, &p); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reevals = append(a.reevals, p.Account+"/"+p.Slug)
	return &asynq.TaskInfo{}, nil
}

func (a *audienceBundle) reevaluated() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reevals)
}

// accountsRef lets the route group use the bundle's accounts store, which
// exists only once setup has built the server.
type accountsRef struct {
	p atomic.Pointer[accounts.Store]
}

func (a *accountsRef) Exists(ctx context.Context, id string) (bool, error) {
	return a.p.Load().Exists(ctx, id)
}

func setupAudiences(t *testing.T) (*audienceBundle, map[string]string) {
	t.Helper()
	rdb, ns := redistest.Client(t)
	ab := &audienceBundle{}
	ab.svc = audiences.New(rdb, ns, nil, audiences.Options{})
	ab.profiles = profiles.New(rdb, ns, ab.svc, profiles.Options{})
	ab.svc.UseProfiles(ab.profiles)
	ref := &accountsRef{}
	g := &Audiences{Service: ab.svc, Accounts: ref, Enqueuer: ab}
	ab.bundle = setup(t, g)
	ref.p.Store(ab.accounts)
	return ab, ab.account(t, "shop")
}

func field(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

func TestAudiencesCRUDThroughAPI(t *testing.T) {
	t.Parallel()
	b, toks := setupAudiences(t)
	base := "/api/v1/accounts/shop/audiences"
	rule := map[string]any{"field": "country", "op": "eq", "value": "FR"}

	code, out := b.do(t, "POST", base, toks["data_manager"], map[string]any{"slug": "fr", "name": "French", "kind": "rule", "rule": rule})
	if code != http.StatusCreated || out["slug"] != "fr" || out["size"] != 0.0 {
		t.Fatalf("create: %d %v", code, out)
	}
	if re, _ := out["reevaluation"].(map[string]any); re["state"] != "pending" {
		t.Errorf("reevaluation of a new rule audience = %v, want pending", out["reevaluation"])
	}
	if got := b.reevaluated(); !slices.Equal(got, []string{"shop/fr"}) {
		t.Errorf("re-evaluations requested %v, want [shop/fr]", got)
	}
	if code, out := b.do(t, "POST", base, toks["data_manager"], map[string]any{"slug": "fr", "kind": "list"}); code != http.StatusConflict || errCode(out) != "exists" {
		t.Errorf("duplicate: %d %v", code, out)
	}
	bad := map[string]any{"slug": "bad", "kind": "rule", "rule": map[string]any{"and": []any{map[string]any{"field": "x", "op": "gt", "value": "abc"}}}}
	if code, out := b.do(t, "POST", base, toks["data_manager"], bad); code != http.StatusUnprocessableEntity || field(out) != "rule.and[0].value" {
		t.Errorf("invalid rule: %d %v, want 422 naming rule.and[0].value", code, out)
	}
	if code, _ := b.do(t, "POST", base, toks["read"], map[string]any{"slug": "x", "kind": "list"}); code != http.StatusForbidden {
		t.Errorf("create with a read token: %d, want 403", code)
	}
	if code, _ := b.do(t, "POST", "/api/v1/accounts/nope/audiences", operatorToken, map[string]any{"slug": "x", "kind": "list"}); code != http.StatusNotFound {
		t.Errorf("create in a missing account: %d, want 404", code)
	}

	// Profiles written meanwhile are placed at once; size shows in GET.
	recs := []profiles.Record{
		profiles.StringRecord(map[string]string{"email": "a@x.io", "country": "FR"}, time.Time{}),
		profiles.StringRecord(map[string]string{"email": "b@x.io", "country": "DE"}, time.Time{}),
	}
	if _, err := b.profiles.Upsert(context.Background(), "shop", "web", recs); err != nil {
		t.Fatal(err)
	}
	code, out = b.do(t, "GET", base+"/fr", toks["read"], nil)
	if code != http.StatusOK || out["size"] != 1.0 || out["kind"] != "rule" {
		t.Fatalf("get: %d %v, want size 1", code, out)
	}
	code, out = b.do(t, "GET", base, toks["read"], nil)
	data, _ := out["data"].([]any)
	var slugs []string
	for _, d := range data {
		slugs = append(slugs, d.(map[string]any)["slug"].(string))
	}
	if code != http.StatusOK || !slices.Equal(slugs, []string{"fr", "lytics_all", "lytics_known", "lytics_new"}) {
		t.Fatalf("list: %d %v", code, slugs)
	}

	code, out = b.do(t, "PATCH", base+"/fr", toks["data_manager"], map[string]any{"name": "France", "rule": map[string]any{"field": "country", "op": "in", "value": []string{"FR", "DE"}}})
	if code != http.StatusOK || out["name"] != "France" {
		t.Fatalf("patch: %d %v", code, out)
	}
	if got := b.reevaluated(); len(got) != 2 {
		t.Errorf("a rule change requested %d re-evaluations in all, want 2", len(got))
	}
	if code, out := b.do(t, "PATCH", base+"/lytics_all", toks["data_manager"], map[string]any{"name": "x"}); code != http.StatusConflict || errCode(out) != "builtin" {
		t.Errorf("patch built-in: %d %v", code, out)
	}
	if code, out := b.do(t, "PATCH", base+"/fr", toks["data_manager"], map[string]any{"rule": map[string]any{"op": "eq"}}); code != http.StatusUnprocessableEntity || field(out) != "rule.field" {
		t.Errorf("patch with a bad rule: %d %v", code, out)
	}
	if code, _ := b.do(t, "DELETE", base+"/fr", toks["data_manager"], nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	if code, out := b.do(t, "GET", base+"/fr", toks["read"], nil); code != http.StatusNotFound || errCode(out) != "not_found" {
		t.Errorf("get after delete: %d %v", code, out)
	}
}

func TestAudienceMembersThroughAPI(t *testing.T) {
	t.Parallel()
	b, toks := setupAudiences(t)
	base := "/api/v1/accounts/shop/audiences"
	if code, out := b.do(t, "POST", base, toks["data_manager"], map[string]any{"slug": "vip", "kind": "list"}); code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, out)
	}
	var add []map[string]string
	for i := range 5 {
		add = append(add, map[string]string{"email": fmt.Sprintf("m%d@x.io", i)})
	}
	code, out := b.do(t, "POST", base+"/vip/members", toks["data_manager"], map[string]any{"add": add, "remove": []map[string]string{{"email": "ghost@x.io"}}})
	if code != http.StatusOK || out["added"] != 5.0 || out["created"] != 5.0 || out["not_found"] != 1.0 {
		t.Fatalf("add members: %d %v", code, out)
	}
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		code, out := b.do(t, "GET", base+"/vip/members?limit=2&cursor="+cursor, toks["read"], nil)
		if code != http.StatusOK || out["size"] != 5.0 {
			t.Fatalf("members page: %d %v", code, out)
		}
		for _, id := range out["data"].([]any) {
			all = append(all, id.(string))
		}
		cursor, _ = out["next_cursor"].(string)
		if cursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(all) != 5 || len(slices.Compact(slices.Clone(all))) != 5 {
		t.Fatalf("paged members %v, want 5 distinct", all)
	}
	if code, out := b.do(t, "GET", base+"/vip/members?cursor=abc", toks["read"], nil); code != http.StatusUnprocessableEntity || field(out) != "cursor" {
		t.Errorf("a cursor that no page gave: %d %v", code, out)
	}
	code, out = b.do(t, "POST", base+"/vip/members", toks["data_manager"], map[string]any{"remove": []map[string]string{{"email": "m0@x.io"}}})
	if code != http.StatusOK || out["removed"] != 1.0 {
		t.Fatalf("remove: %d %v", code, out)
	}
	if code, out := b.do(t, "POST", base+"/vip/members", toks["data_manager"], map[string]any{"add": []map[string]string{{"email": ""}}}); code != http.StatusUnprocessableEntity || field(out) != "add[0]" {
		t.Errorf("empty identity: %d %v", code, out)
	}
	if code, out := b.do(t, "POST", base+"/lytics_all/members", toks["data_manager"], map[string]any{"add": add}); code != http.StatusConflict || errCode(out) != "not_list" {
		t.Errorf("members of a rule audience: %d %v", code, out)
	}
	if code, _ := b.do(t, "POST", base+"/vip/members", toks["read"], map[string]any{"add": add}); code != http.StatusForbidden {
		t.Errorf("add with a read token: %d, want 403", code)
	}
	if code, out := b.do(t, "GET", base+"/vip/members?limit=0", toks["read"], nil); code != http.StatusUnprocessableEntity || field(out) != "limit" {
		t.Errorf("limit=0: %d %v", code, out)
	}
	if code, _ := b.do(t, "GET", base+"/nope/members", toks["read"], nil); code != http.StatusNotFound {
		t.Errorf("members of a missing audience: %d, want 404", code)
	}
}
