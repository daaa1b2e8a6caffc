package e2e

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/brazesync/brazesync/client"
)

// Client returns a client of the API with token. It decodes strictly (an
// answer field the client does not know fails the call) and holds every
// request and answer against the document, as call does.
func (e *Env) Client(t *testing.T, token string) *client.Client {
	t.Helper()
	c, _ := e.trackedClient(t, token)
	return c
}

// Client returns a client of the API with the account's admin token.
func (a *Account) Client(t *testing.T) *client.Client {
	t.Helper()
	return a.e.Client(t, a.Token)
}

// trackedClient is Client, and the set of operationIds its calls reached.
func (e *Env) trackedClient(t *testing.T, token string) (*client.Client, *operationsSeen) {
	t.Helper()
	seen := &operationsSeen{ids: map[string]bool{}}
	hc := &http.Client{Timeout: httpClient.Timeout, Transport: &contractTransport{t: t, seen: seen}}
	c, err := client.New(e.API, token, client.WithHTTPClient(hc), client.WithStrictDecoding())
	if err != nil {
		t.Fatal(err)
	}
	return c, seen
}

// operationsSeen are the operations a client's calls reached.
type operationsSeen struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *operationsSeen) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = true
}

func (s *operationsSeen) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// contractTransport holds each request and answer against the document.
type contractTransport struct {
	t    *testing.T
	seen *operationsSeen
}

func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := ct.t
	t.Helper()
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	var ck *check
	if c := contractFor(t, req.URL.String()); c != nil {
		ck = c.begin(req, body)
		if ck.opID != "" {
			ct.seen.add(ck.opID)
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || ck == nil {
		return resp, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	if problem := ck.end(resp.StatusCode, resp.Header, out); problem != "" {
		t.Errorf("%s %s: %s\nrequest: %s\nanswer %d: %s", req.Method, req.URL, problem, tail(string(body), 2000), resp.StatusCode, tail(string(out), 2000))
	}
	return resp, nil
}
