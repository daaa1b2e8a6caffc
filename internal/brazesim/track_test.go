package brazesim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTrackCreatesUnknownExternalID(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	a := b.post(t, "/users/track", testKey, attrs(map[string]any{
		"external_id": "u1", "lytics_segments": map[string]any{"add": []string{"a", "b"}}, "first_name": "Ann",
	}))
	if a.status != http.StatusCreated || a.body["message"] != "success" || a.body["attributes_processed"] != 1.0 {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	if _, ok := a.body["errors"]; ok {
		t.Fatalf("errors present on a clean request: %v", a.body)
	}
	u, ok := sim.User("u1")
	if !ok {
		t.Fatal("user u1 not created")
	}
	want := map[string]any{"lytics_segments": []any{"a", "b"}, "first_name": "Ann"}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("user = %v, want %v", u, want)
	}
	// The same through the inspection endpoint.
	g := b.get(t, "/_sim/users/u1")
	if g.status != http.StatusOK || !reflect.DeepEqual(g.body, want) {
		t.Fatalf("GET /_sim/users/u1 = %d %v", g.status, g.body)
	}
	if g := b.get(t, "/_sim/users/nobody"); g.status != http.StatusNotFound {
		t.Fatalf("unknown user answered %d", g.status)
	}
}

func TestArrayAttributeSemantics(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	steps := []struct {
		name  string
		value any
		want  []any
	}{
		{"plain array replaces, values unique", []string{"a", "b", "a"}, []any{"a", "b"}},
		{"replace again", []string{"x", "y"}, []any{"x", "y"}},
		{"add existing and new", map[string]any{"add": []string{"y", "z"}}, []any{"x", "y", "z"}},
		{"remove", map[string]any{"remove": []string{"x", "nope"}}, []any{"y", "z"}},
		{"add and remove in one object", map[string]any{"add": []string{"w"}, "remove": []string{"y"}}, []any{"z", "w"}},
	}
	for _, st := range steps {
		a := b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "segs": st.value}))
		if a.status != http.StatusCreated {
			t.Fatalf("%s: status %d %v", st.name, a.status, a.body)
		}
		u, _ := sim.User("u")
		if !reflect.DeepEqual(u["segs"], st.want) {
			t.Fatalf("%s: segs = %v, want %v", st.name, u["segs"], st.want)
		}
	}
	// null deletes an attribute.
	b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "segs": nil}))
	if u, _ := sim.User("u"); u["segs"] != nil {
		t.Fatalf("null did not delete: %v", u)
	}
}

// TestArrayDropsOldestBeyondLimit: an array attribute that would grow past
// the limit drops its oldest elements, as Braze does.
func TestArrayDropsOldestBeyondLimit(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{ArrayLimit: 3})
	b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "segs": []string{"1", "2", "3", "4", "5"}}))
	u, _ := sim.User("u")
	if want := []any{"3", "4", "5"}; !reflect.DeepEqual(u["segs"], want) {
		t.Fatalf("replace: segs = %v, want %v", u["segs"], want)
	}
	b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "segs": map[string]any{"add": []string{"6"}, "remove": []string{"4"}}}))
	u, _ = sim.User("u")
	if want := []any{"3", "5", "6"}; !reflect.DeepEqual(u["segs"], want) {
		t.Fatalf("remove then add within the limit: segs = %v, want %v", u["segs"], want)
	}
	b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "segs": map[string]any{"add": []string{"7", "8"}}}))
	u, _ = sim.User("u")
	if want := []any{"6", "7", "8"}; !reflect.DeepEqual(u["segs"], want) {
		t.Fatalf("add to a full array: segs = %v, want %v (the oldest dropped)", u["segs"], want)
	}
}

func TestDefaultArrayLimitIs500(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	vals := make([]string, 510)
	for i := range vals {
		vals[i] = fmt.Sprint(i)
	}
	b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "segs": map[string]any{"add": vals}}))
	u, _ := sim.User("u")
	segs := u["segs"].([]any)
	if len(segs) != 500 || segs[0] != "10" {
		t.Fatalf("array holds %d elements from %v, want 500 from \"10\"", len(segs), segs[0])
	}
}

// TestBooleansAndNull: boolean attributes are stored as booleans and null
// removes an attribute, whatever its type.
func TestBooleansAndNull(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	a := b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "lytics_a": true, "lytics_b": false, "segs": map[string]any{"add": []string{"x"}}}))
	if a.status != http.StatusCreated {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	u, _ := sim.User("u")
	if u["lytics_a"] != true || u["lytics_b"] != false {
		t.Fatalf("booleans: %v", u)
	}
	b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "lytics_a": nil, "lytics_b": nil, "segs": nil}))
	u, _ = sim.User("u")
	for _, k := range []string{"lytics_a", "lytics_b", "segs"} {
		if _, ok := u[k]; ok {
			t.Fatalf("null left %s: %v", k, u)
		}
	}
}

func TestUpdateExistingOnly(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	a := b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "ghost", "x": 1, "_update_existing_only": true}))
	if a.status != http.StatusCreated || a.body["attributes_processed"] != 0.0 {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	if _, ok := sim.User("ghost"); ok {
		t.Fatal("_update_existing_only created a user")
	}
	if st := sim.Stats(); st.NotUpdated != 1 || st.Objects != 1 {
		t.Fatalf("stats after a skipped object: %+v", st.Counts)
	}
	b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "ghost", "x": 1}))
	a = b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "ghost", "x": 2, "_update_existing_only": true}))
	u, _ := sim.User("ghost")
	if a.body["attributes_processed"] != 1.0 || u["x"] != 2.0 {
		t.Fatalf("existing user not updated: %v %v", a.body, u)
	}
	if _, ok := u["_update_existing_only"]; ok {
		t.Fatal("_update_existing_only stored as an attribute")
	}
}

func TestPartialErrorsNameTheObjects(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	body := `{"attributes": [
		{"external_id": "ok1", "a": 1},
		{"a": 1},
		{"external_id": 5},
		{"external_id": "x", "braze_id": "y"},
		{"user_alias": {"alias_name": "n"}},
		{"email": "not-an-email"},
		"a string",
		{"external_id": "x", "segs": {"add": "notarray"}},
		{"external_id": "ok2", "_update_existing_only": "yes"},
		{"external_id": "ok3", "a": 1}
	]}`
	a := b.post(t, "/users/track", testKey, body)
	if a.status != http.StatusCreated || a.body["message"] != "success" {
		t.Fatalf("partial failure answered %d %v", a.status, a.body)
	}
	if a.body["attributes_processed"] != 2.0 {
		t.Fatalf("attributes_processed = %v, want 2", a.body["attributes_processed"])
	}
	errs, _ := a.body["errors"].([]any)
	var idx []int
	for _, e := range errs {
		m := e.(map[string]any)
		if m["input_array"] != "attributes" || m["type"] == "" {
			t.Fatalf("error item %v", m)
		}
		idx = append(idx, int(m["index"].(float64)))
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !reflect.DeepEqual(idx, want) {
		t.Fatalf("error indexes %v, want %v", idx, want)
	}
	if _, ok := sim.User("ok3"); !ok {
		t.Fatal("a valid object after invalid ones was not applied")
	}
	if st := sim.Stats(); st.ObjectErrors != 8 || st.Objects != 2 {
		t.Fatalf("stats %+v", st.Counts)
	}
}

func TestIdentifierKinds(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	a := b.post(t, "/users/track", testKey, attrs(
		map[string]any{"braze_id": "b1", "v": "braze"},
		map[string]any{"email": "A@x.io", "v": "email"},
		map[string]any{"phone": "+15555550100", "v": "phone"},
		map[string]any{"user_alias": map[string]any{"alias_name": "n1", "alias_label": "lytics"}, "v": "alias"},
		map[string]any{"external_id": "e1", "email": "e1@x.io", "v": "ext"},
	))
	if a.status != http.StatusCreated || a.body["attributes_processed"] != 5.0 {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	for _, c := range []struct{ kind, value, want string }{
		{KindBrazeID, "b1", "braze"}, {KindEmail, "a@X.io", "email"}, {KindPhone, "+15555550100", "phone"},
		{KindUserAlias, "lytics:n1", "alias"}, {KindExternalID, "e1", "ext"},
	} {
		u, ok := sim.UserBy(c.kind, c.value)
		if !ok || u["v"] != c.want {
			t.Errorf("UserBy(%s, %s) = %v, %v", c.kind, c.value, u, ok)
		}
	}
	if g := b.get(t, "/_sim/lookup?kind=user_alias&value=lytics:n1"); g.status != http.StatusOK || g.body["v"] != "alias" {
		t.Errorf("GET /_sim/lookup alias: %d %v", g.status, g.body)
	}
	if g := b.get(t, "/_sim/lookup?kind=email&value=nobody@x.io"); g.status != http.StatusNotFound {
		t.Errorf("GET /_sim/lookup unknown email: %d", g.status)
	}
	// Email beside external_id is an attribute, not an identifier.
	if u, _ := sim.User("e1"); u["email"] != "e1@x.io" {
		t.Fatalf("email beside external_id not stored as attribute: %v", u)
	}
	if _, ok := sim.UserBy(KindEmail, "e1@x.io"); ok {
		t.Fatal("email beside external_id created an email user")
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	_, b := setup(t, Options{APIKeys: []string{"good"}})
	body := attrs(map[string]any{"external_id": "u"})
	for _, key := range []string{"", "bad"} {
		a := b.post(t, "/users/track", key, body)
		if a.status != http.StatusUnauthorized || a.body["message"] == nil {
			t.Fatalf("key %q: %d %v", key, a.status, a.body)
		}
		if strings.Contains(fmt.Sprint(a.body), "bad") && key == "bad" {
			t.Fatal("the key is echoed in the answer")
		}
	}
	if a := b.post(t, "/users/track", "good", body); a.status != http.StatusCreated {
		t.Fatalf("good key: %d %v", a.status, a.body)
	}
	// A forbidden key authenticates but lacks the permission.
	_, fb := setup(t, Options{ForbiddenKeys: []string{"readonly"}})
	if a := fb.post(t, "/users/track", "readonly", body); a.status != http.StatusForbidden || a.body["message"] == nil {
		t.Fatalf("forbidden key: %d %v", a.status, a.body)
	}
	// Without APIKeys any key is accepted.
	_, open := setup(t, Options{})
	if a := open.post(t, "/users/track", "anything", body); a.status != http.StatusCreated {
		t.Fatalf("open sim: %d", a.status)
	}
}

func TestMaxObjects(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	objs := make([]map[string]any, 76)
	for i := range objs {
		objs[i] = map[string]any{"external_id": fmt.Sprint("u", i), "x": i}
	}
	a := b.post(t, "/users/track", testKey, attrs(objs...))
	if a.status != http.StatusBadRequest || a.body["message"] != "Max Input Length Exceeded" {
		t.Fatalf("76 objects: %d %v", a.status, a.body)
	}
	if _, ok := sim.User("u0"); ok {
		t.Fatal("a rejected request was applied")
	}
	if a := b.post(t, "/users/track", testKey, attrs(objs[:75]...)); a.status != http.StatusCreated || a.body["attributes_processed"] != 75.0 {
		t.Fatalf("75 objects: %d %v", a.status, a.body)
	}
	// Attributes, events and purchases count together.
	events := make([]map[string]any, 40)
	for i := range events {
		events[i] = map[string]any{"external_id": "u", "name": "e", "time": "2026-01-01T00:00:00Z"}
	}
	mixed := map[string]any{"attributes": objs[:40], "events": events}
	if a := b.post(t, "/users/track", testKey, mixed); a.status != http.StatusBadRequest {
		t.Fatalf("40 attributes + 40 events: %d %v", a.status, a.body)
	}
	_, small := setup(t, Options{MaxObjects: 50})
	if a := small.post(t, "/users/track", testKey, attrs(objs[:51]...)); a.status != http.StatusBadRequest {
		t.Fatalf("51 objects with MaxObjects 50: %d", a.status)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	_, b := setup(t, Options{MaxBody: 1000})
	big := attrs(map[string]any{"external_id": "u", "blob": strings.Repeat("x", 2000)})
	a := b.post(t, "/users/track", testKey, big)
	if a.status != http.StatusRequestEntityTooLarge || a.body["message"] == nil {
		t.Fatalf("oversized body: %d %v", a.status, a.body)
	}
}

func TestDefaultBodyLimitIs4MB(t *testing.T) {
	t.Parallel()
	_, b := setup(t, Options{})
	big := attrs(map[string]any{"external_id": "u", "blob": strings.Repeat("x", 4<<20)})
	if a := b.post(t, "/users/track", testKey, big); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("4 MB+ body: %d", a.status)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	_, b := setup(t, Options{})
	for _, body := range []string{`{`, `{"attributes": []}`, `[]`} {
		if a := b.post(t, "/users/track", testKey, body); a.status != http.StatusBadRequest || a.body["message"] == nil {
			t.Errorf("body %s: %d %v", body, a.status, a.body)
		}
	}
	if a := b.post(t, "/users/nope", testKey, "{}"); a.status != http.StatusNotFound {
		t.Errorf("unknown path: %d", a.status)
	}
}

func TestRateLimitFixedWindow(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 28, 12, 0, 1, 0, time.UTC)}
	sim := New(Options{RateLimit: 3, Now: clk.Now})
	base := clk.Now().UnixNano() / int64(RateWindowDefault) * int64(RateWindowDefault)
	wantReset := fmt.Sprint((base + int64(RateWindowDefault) + 999_999_999) / 1e9)
	body := `{"attributes":[{"external_id":"u","x":1}]}`
	do := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/users/track", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		rec := do("k1")
		if rec.Code != http.StatusCreated {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
		// Header names are sent in lower case, as Braze does.
		h := rec.Result().Header
		raw := rec.Header() // raw map: Braze's lower-case names are what is under test
		if lower(raw, "x-ratelimit-limit") != "3" || lower(raw, "x-ratelimit-remaining") != fmt.Sprint(2-i) || lower(raw, "x-ratelimit-reset") != wantReset {
			t.Fatalf("request %d headers %v (want reset %s)", i, h, wantReset)
		}
	}
	rec := do("k1")
	if rec.Code != http.StatusTooManyRequests || lower(rec.Header(), "x-ratelimit-remaining") != "0" {
		t.Fatalf("4th request: %d %v", rec.Code, rec.Header())
	}
	if !strings.Contains(rec.Body.String(), `"message"`) {
		t.Fatalf("429 body %s", rec.Body)
	}
	// Another key has its own window.
	if rec := do("k2"); rec.Code != http.StatusCreated {
		t.Fatalf("other key: %d", rec.Code)
	}
	clk.Add(RateWindowDefault)
	if rec := do("k1"); rec.Code != http.StatusCreated {
		t.Fatalf("next window: %d", rec.Code)
	}
	st := sim.Stats().Keys[KeyID("k1")]
	if st.Requests != 5 || st.RateLimited != 1 {
		t.Fatalf("k1 counts %+v", st)
	}
}

// lower reads a header by its exact, uncanonicalised name: Braze sends the
// rate-limit names in lower case and the simulator must too.
func lower(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func TestStatsCountsDataPoints(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	b.post(t, "/users/track", "k1", attrs(
		map[string]any{"external_id": "a", "segs": map[string]any{"add": []string{"x"}}, "first_name": "A"},
		map[string]any{"external_id": "b", "segs": []string{"y"}, "_update_existing_only": false},
		map[string]any{"nothing": 1},
	))
	b.post(t, "/users/track", "k2", attrs(map[string]any{"email": "c@x.io", "country": "FR"}))
	st := sim.Stats()
	if st.Requests != 2 || st.Objects != 3 || st.DataPoints != 4 || st.ObjectErrors != 1 || st.Users != 3 {
		t.Fatalf("totals %+v users %d", st.Counts, st.Users)
	}
	if k1 := st.Keys[KeyID("k1")]; k1.DataPoints != 3 || k1.Objects != 2 {
		t.Fatalf("k1 %+v", k1)
	}
	g := b.get(t, "/_sim/stats")
	if g.body["requests"] != 2.0 || g.body["data_points"] != 4.0 || g.body["rate_limited"] != 0.0 || g.body["objects"] != 3.0 {
		t.Fatalf("GET /_sim/stats %v", g.body)
	}
	if strings.Contains(fmt.Sprint(g.body), "k1") {
		t.Fatal("stats show a raw API key")
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	sim, b := setup(t, Options{})
	b.post(t, "/users/track", testKey, attrs(map[string]any{"external_id": "u", "x": 1}))
	if a := b.post(t, "/_sim/reset", "", ""); a.status != http.StatusNoContent {
		t.Fatalf("reset: %d", a.status)
	}
	if _, ok := sim.User("u"); ok {
		t.Fatal("user kept after reset")
	}
	if st := sim.Stats(); st.Requests != 0 || st.Users != 0 {
		t.Fatalf("stats after reset %+v", st)
	}
}

func TestEventsAndPurchasesValidated(t *testing.T) {
	t.Parallel()
	_, b := setup(t, Options{})
	a := b.post(t, "/users/track", testKey, map[string]any{
		"events":    []any{map[string]any{"external_id": "u", "name": "e"}, map[string]any{"name": "e"}},
		"purchases": []any{map[string]any{"external_id": "u", "product_id": "p"}},
	})
	if a.status != http.StatusCreated || a.body["events_processed"] != 1.0 || a.body["purchases_processed"] != 1.0 {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	errs := a.body["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["input_array"] != "events" || errs[0].(map[string]any)["index"] != 1.0 {
		t.Fatalf("errors %v", errs)
	}
}
