package braze

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
	"github.com/brazesync/brazesync/internal/egress"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testKey = "secret-test-key-123"

type bundle struct {
	sim *brazesim.Sim
	srv *httptest.Server
}

// setup starts a simulator and a client for it.
func setup(t *testing.T, simOpts brazesim.Options, opts Options) (*Client, *bundle) {
	t.Helper()
	if simOpts.APIKeys == nil {
		simOpts.APIKeys = []string{testKey}
	}
	sim := brazesim.New(simOpts)
	srv := httptest.NewServer(sim)
	return newClient(t, srv, opts), &bundle{sim: sim, srv: srv}
}

func newClient(t *testing.T, srv *httptest.Server, opts Options) *Client {
	t.Helper()
	if opts.Endpoint == "" {
		opts.Endpoint = srv.URL
	}
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	opts.AllowInsecure, opts.AllowCustomEndpoint = true, true
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.CloseClientConnections()
		c.CloseIdleConnections()
		srv.Close()
	})
	return c
}

func ext(id string) Identifier { return Identifier{Kind: ExternalID, Value: id} }

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *braze.Error", err, err)
	}
	if strings.Contains(e.Error(), testKey) {
		t.Fatalf("error text contains the API key: %s", e.Error())
	}
	return e
}

func TestTrackSuccessCreatesUsers(t *testing.T) {
	t.Parallel()
	c, b := setup(t, brazesim.Options{}, Options{})
	ctx := context.Background()
	res, err := c.Track(ctx, []Object{
		Segments(ext("u1"), "", []string{"vip", "new"}, nil),
		Segments(ext("u2"), "", []string{"vip"}, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusCreated || res.Message != "success" || res.AttributesProcessed != 2 || len(res.Errors) != 0 || res.Queued {
		t.Fatalf("result %+v", res)
	}
	if !res.RateLimit.Present || res.RateLimit.Limit != 3000 || res.RateLimit.Remaining != 2999 || !res.RateLimit.Reset.After(time.Now().Add(-time.Second)) {
		t.Fatalf("rate limit %+v", res.RateLimit)
	}
	// State-based update: remove one segment, add another.
	if _, err := c.Track(ctx, []Object{Segments(ext("u1"), "", []string{"churn"}, []string{"new"})}); err != nil {
		t.Fatal(err)
	}
	u, ok := b.sim.User("u1")
	if !ok || !reflect.DeepEqual(u["lytics_segments"], []any{"vip", "churn"}) {
		t.Fatalf("user u1 = %v", u)
	}
}

func TestTrackPartialErrorsMapToObjects(t *testing.T) {
	t.Parallel()
	c, b := setup(t, brazesim.Options{}, Options{})
	objs := []Object{
		Segments(ext("ok"), "", []string{"a"}, nil),
		Segments(Identifier{Kind: Email, Value: "not-an-email"}, "", []string{"a"}, nil),
		Segments(Identifier{Kind: Email, Value: "fine@x.io"}, "", []string{"a"}, nil),
	}
	res, err := c.Track(context.Background(), objs)
	if err != nil {
		t.Fatalf("a partial failure is a success: %v", err)
	}
	if res.AttributesProcessed != 2 || len(res.Errors) != 1 {
		t.Fatalf("result %+v", res)
	}
	e := res.Errors[0]
	if e.Index != 1 || e.ID != objs[1].ID || e.InputArray != "attributes" || e.Type == "" || len(e.Raw) == 0 {
		t.Fatalf("error %+v", e)
	}
	if _, ok := b.sim.UserBy(brazesim.KindEmail, "fine@x.io"); !ok {
		t.Fatal("the valid email object was not applied")
	}
}

func TestTrackOddErrorItemsAreKept(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprint(w, `{"message":"success","attributes_processed":1,"errors":[
			"something went wrong",
			{"type":"bad","input_array":"attributes","index":7},
			{"type":{"code":3},"index":0},
			{"type":"event","input_array":"events","index":0},
			42]}`)
	}))
	c := newClient(t, srv, Options{})
	res, err := c.Track(context.Background(), []Object{Segments(ext("u"), "", []string{"a"}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 5 {
		t.Fatalf("%d errors, want 5 (none dropped)", len(res.Errors))
	}
	want := []struct {
		index int
		typ   string
	}{{-1, "something went wrong"}, {-1, "bad"}, {0, `{"code":3}`}, {-1, "event"}, {-1, ""}}
	for i, w := range want {
		if e := res.Errors[i]; e.Index != w.index || e.Type != w.typ || len(e.Raw) == 0 {
			t.Errorf("error %d = %+v, want index %d type %q", i, e, w.index, w.typ)
		}
	}
	if res.Errors[2].ID != ext("u") {
		t.Errorf("index 0 not mapped to its object: %+v", res.Errors[2])
	}
}

func TestQueuedIsSuccess(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = fmt.Fprint(w, `{"message":"queued"}`)
	}))
	c := newClient(t, srv, Options{})
	res, err := c.Track(context.Background(), []Object{Segments(ext("u"), "", []string{"a"}, nil)})
	if err != nil || !res.Queued || res.Status != http.StatusAccepted || res.AttributesProcessed != -1 {
		t.Fatalf("202 queued: %+v %v", res, err)
	}
}

func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	one := []Object{Segments(ext("u"), "", []string{"a"}, nil)}
	t.Run("401 wrong key", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, brazesim.Options{}, Options{APIKey: "wrong-key"})
		_, err := c.Track(context.Background(), one)
		e := asError(t, err)
		if e.Class != Permanent || e.Status != 401 || e.Hint != hint401 || e.Message == "" || ClassOf(err) != Permanent {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("401 quoting the key is redacted", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprintf(w, `{"message":"Invalid API key: %s"}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		}))
		c := newClient(t, srv, Options{})
		_, err := c.Track(context.Background(), one)
		e := asError(t, err) // fails if the key is in the text
		if e.Class != Permanent || e.Message != "Invalid API key: [redacted]" {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("400 with Braze's message", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, brazesim.Options{MaxObjects: 1}, Options{})
		_, err := c.Track(context.Background(), []Object{one[0], Segments(ext("v"), "", []string{"a"}, nil)})
		e := asError(t, err)
		if e.Class != Permanent || e.Status != 400 || e.Message != "Max Input Length Exceeded" {
			t.Fatalf("%+v", e)
		}
		if !strings.Contains(e.Error(), "Max Input Length Exceeded") {
			t.Fatalf("Error() = %s", e.Error())
		}
	})
	t.Run("404 invalid URL", func(t *testing.T) {
		t.Parallel()
		sim := brazesim.New(brazesim.Options{})
		srv := httptest.NewServer(sim)
		c := newClient(t, srv, Options{Endpoint: srv.URL + "/v9"})
		_, err := c.Track(context.Background(), one)
		if e := asError(t, err); e.Class != Permanent || e.Status != 404 || e.Hint != hint404 {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("413 payload too large", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, brazesim.Options{MaxBody: 200}, Options{})
		_, err := c.Track(context.Background(), []Object{Segments(ext("u"), "", []string{strings.Repeat("x", 300)}, nil)})
		if e := asError(t, err); e.Class != Permanent || e.Status != 413 || e.Hint != hint413 {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("403 permission", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, brazesim.Options{ForbiddenKeys: []string{testKey}}, Options{})
		_, err := c.Track(context.Background(), one)
		if e := asError(t, err); e.Class != Permanent || e.Status != 403 || e.Hint != hint403 || !strings.Contains(e.Message, "users.track") {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("redirect is not followed", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				t.Errorf("the redirect was followed with %s", r.Method)
			}
			http.Redirect(w, r, "https://elsewhere.example/users/track", http.StatusMovedPermanently)
		}))
		c := newClient(t, srv, Options{})
		_, err := c.Track(context.Background(), one)
		if e := asError(t, err); e.Class != Permanent || e.Status != 301 || e.Hint != hint3xx || !strings.Contains(e.Message, "elsewhere.example") {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("too many objects for one request", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, brazesim.Options{}, Options{BatchSize: 2})
		_, err := c.Track(context.Background(), users(3, 1))
		if e := asError(t, err); e.Class != Permanent || e.Status != 0 {
			t.Fatalf("%+v", e)
		}
	})
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	// A fixed simulator clock inside the current hour: both requests fall in
	// one window even at an hour boundary, and the reset is still ahead.
	mid := time.Now().Truncate(time.Hour).Add(30 * time.Minute)
	c, b := setup(t, brazesim.Options{RateLimit: 1, RateWindow: time.Hour, Now: func() time.Time { return mid }}, Options{})
	one := []Object{Segments(ext("u"), "", []string{"a"}, nil)}
	if _, err := c.Track(context.Background(), one); err != nil {
		t.Fatal(err)
	}
	res, err := c.Track(context.Background(), one)
	e := asError(t, err)
	if e.Class != RateLimited || e.Status != 429 || ClassOf(err) != RateLimited {
		t.Fatalf("%+v", e)
	}
	if !e.RetryAt.Equal(e.RateLimit.Reset) || !e.RetryAt.After(time.Now()) || e.RetryAt.After(time.Now().Add(time.Hour+time.Second)) {
		t.Fatalf("RetryAt %v, reset header %v", e.RetryAt, e.RateLimit.Reset)
	}
	if res == nil || res.RateLimit.Remaining != 0 || !res.RateLimit.Present {
		t.Fatalf("429 result %+v", res)
	}
	if st := b.sim.Stats(); st.RateLimited != 1 {
		t.Fatalf("simulator saw %d 429s", st.RateLimited)
	}
}

func TestRateLimitedWithoutResetFallsBack(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	c := newClient(t, srv, Options{})
	_, err := c.Track(context.Background(), []Object{Segments(ext("u"), "", []string{"a"}, nil)})
	e := asError(t, err)
	if e.Class != RateLimited || e.RetryAt.Before(time.Now()) || e.RetryAt.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("%+v", e)
	}
}

func TestRetryableErrors(t *testing.T) {
	t.Parallel()
	one := []Object{Segments(ext("u"), "", []string{"a"}, nil)}
	t.Run("5xx", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, brazesim.Options{Faults: brazesim.Faults{ServerErrorRate: 1}}, Options{})
		for range 5 {
			_, err := c.Track(context.Background(), one)
			if e := asError(t, err); e.Class != Retryable || e.Status < 500 || e.Status > 504 {
				t.Fatalf("%+v", e)
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		sim := brazesim.New(brazesim.Options{Faults: brazesim.Faults{TimeoutRate: 1}})
		srv := httptest.NewServer(sim)
		t.Cleanup(sim.Close)
		hc := &http.Client{Transport: &http.Transport{}, Timeout: 100 * time.Millisecond}
		t.Cleanup(hc.CloseIdleConnections)
		c := newClient(t, srv, Options{HTTPClient: hc})
		_, err := c.Track(context.Background(), one)
		if e := asError(t, err); e.Class != Retryable || e.Status != 0 || e.Err == nil {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("dropped connection", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, brazesim.Options{Faults: brazesim.Faults{DropRate: 1}}, Options{})
		_, err := c.Track(context.Background(), one)
		if e := asError(t, err); e.Class != Retryable || e.Status != 0 {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		c, err := New(Options{Endpoint: "http://" + addr, APIKey: testKey, AllowInsecure: true, AllowCustomEndpoint: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseIdleConnections()
		_, err = c.Track(context.Background(), one)
		if e := asError(t, err); e.Class != Retryable || e.Status != 0 {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("caller cancelled", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, brazesim.Options{}, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Track(ctx, one)
		if e := asError(t, err); e.Class != Retryable || !errors.Is(err, context.Canceled) {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("5xx with an HTML body", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = fmt.Fprint(w, "<html>bad gateway</html>")
		}))
		c := newClient(t, srv, Options{})
		_, err := c.Track(context.Background(), one)
		if e := asError(t, err); e.Class != Retryable || e.Status != 502 || e.Message != "<html>bad gateway</html>" {
			t.Fatalf("%+v", e)
		}
	})
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Endpoint: "http://rest.iad-01.braze.com", APIKey: "k"},
		{Endpoint: "ftp://x", APIKey: "k"},
		{Endpoint: "rest.iad-01.braze.com", APIKey: "k"},
		{Endpoint: "https://rest.iad-01.braze.com", APIKey: " "},
		{Endpoint: "https://rest.iad-01.braze.com", APIKey: "k", BatchSize: 76},
		{Endpoint: "https://rest.iad-01.braze.com?x=1", APIKey: "k"},
		{Endpoint: "https://user:pw@rest.iad-01.braze.com", APIKey: "k"},
		{Endpoint: "https://user:pw@sim.example.com", APIKey: "k", AllowCustomEndpoint: true},
		{Endpoint: "https://rest.iad-01.braze.com/#frag", APIKey: "k"},
		{Endpoint: "https://rest.iad-01.braze.com/?", APIKey: "k"},
		{Endpoint: "https://rest.iad-01.braze.com", APIKey: "k", MaxBodyBytes: 5_000_000},
		// Outside Braze's domains without AllowCustomEndpoint.
		{Endpoint: "https://169.254.169.254", APIKey: "k"},
		{Endpoint: "https://braze.com.evil.example", APIKey: "k"},
		{Endpoint: "https://evilbraze.com", APIKey: "k"},
		{Endpoint: "https://.braze.com", APIKey: "k"},
		{Endpoint: "http://127.0.0.1:1", APIKey: "k", AllowInsecure: true},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the endpoint password: %v", err)
		}
	}
	c, err := New(Options{Endpoint: "https://rest.iad-01.braze.com/", APIKey: "k", BatchSize: 50})
	if err != nil || c.url != "https://rest.iad-01.braze.com/users/track" || c.BatchSize() != 50 {
		t.Fatalf("valid options: %v %v", c, err)
	}
	if _, err := New(Options{Endpoint: "http://127.0.0.1:1", APIKey: "k", AllowInsecure: true, AllowCustomEndpoint: true}); err != nil {
		t.Fatalf("http with AllowInsecure and AllowCustomEndpoint: %v", err)
	}
	for _, ep := range []string{"https://rest.fra-01.braze.eu", "https://REST.IAD-01.BRAZE.COM:443/"} {
		if _, err := New(Options{Endpoint: ep, APIKey: "k"}); err != nil {
			t.Errorf("%s refused: %v", ep, err)
		}
	}
}

// TestEgressRefusalIsPermanent: an endpoint the egress dialer refuses is a
// permanent error naming the code, and nothing reaches the server.
func TestEgressRefusalIsPermanent(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	var policy *egress.Policy // the default: loopback is refused
	c, err := New(Options{Endpoint: srv.URL, APIKey: testKey, AllowInsecure: true, AllowCustomEndpoint: true,
		Dial: policy.Dialer(net.Dialer{Timeout: 5 * time.Second}).DialContext})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	_, err = c.Track(context.Background(), []Object{Segments(Identifier{Kind: ExternalID, Value: "u1"}, "", []string{"vip"}, nil)})
	if e := asError(t, err); e.Class != Permanent || !errors.Is(err, egress.ErrForbidden) || !strings.Contains(e.Error(), egress.Code) {
		t.Fatalf("%+v", e)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Fatalf("error shows the key: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests reached a refused endpoint", hits.Load())
	}
}
