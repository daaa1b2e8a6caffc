// Package client is a typed Go client of brazesync's HTTP API, the API
// that /openapi.json describes. Each method is one operation of that
// document, named after its operationId (createJob is CreateJob), and
// answers the operation's documented body as a Go value.
//
//	c, err := client.New("http://127.0.0.1:8080", os.Getenv("BRAZESYNC_TOKEN"))
//	job, err := c.GetJob(ctx, "acme", "job_123")
//
// An error answer comes back as an *Error with the HTTP status and the
// API's stable code (not_found, invalid, conflict, ...):
//
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.Code == client.CodeNotFound { ... }
//
// Methods never retry: Error.Temporary tells which failures are worth
// retrying, and Error.RetryAfter how long to wait.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxAnswerBytes bounds the answers the client reads.
const MaxAnswerBytes = 64 << 20

// Client calls one brazesync API with one token. It is safe for
// concurrent use.
type Client struct {
	base   *url.URL
	token  string
	http   *http.Client
	strict bool
	agent  string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends the requests through hc (default: a client with a
// 60 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent sets the User-Agent header (default brazesync-client).
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// WithStrictDecoding makes the client fail on an answer with a field it
// does not know. The API may add fields at any time, so applications leave
// it off; tests use it to keep the client in step with the server.
func WithStrictDecoding() Option { return func(c *Client) { c.strict = true } }

// New returns a client of the API at baseURL (e.g. http://127.0.0.1:8080,
// without /api/v1) that authenticates with token ("" for none).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: base URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q is not an http or https URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q has a query or fragment", baseURL)
	}
	c := &Client{base: u, token: token, http: &http.Client{Timeout: 60 * time.Second}, agent: "brazesync-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Stable error codes of the API (ErrorCode in the document).
const (
	CodeMalformed            = "malformed"
	CodeUnknownField         = "unknown_field"
	CodeNoAccount            = "no_account"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeCrossOrigin          = "cross_origin"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeExists               = "exists"
	CodeConflict             = "conflict"
	CodeInUse                = "in_use"
	CodeRunInProgress        = "run_in_progress"
	CodeWorkerKey            = "worker_key"
	CodeBuiltin              = "builtin"
	CodeNotList              = "not_list"
	CodeTooLarge             = "too_large"
	CodeInvalid              = "invalid"
	CodeDestinationForbidden = "destination_forbidden"
	CodeNotImport            = "not_import"
	CodeNotExport            = "not_export"
	CodeProfileNotFound      = "profile_not_found"
	CodeRejectedRowsExpired  = "rejected_rows_expired"
	CodeNotTestable          = "not_testable"
	CodeInternal             = "internal"
	CodeUnavailable          = "unavailable"
	// CodeRateLimited is the client's code for the collect endpoint's 429,
	// which answers Lytics-style without a code of its own.
	CodeRateLimited = "rate_limited"
)

// Error is an error answer of the API.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the stable code (Code* constants). The collect endpoint's
	// Lytics-style answers carry none; the client names them by status:
	// malformed (400), too_large (413), rate_limited (429), unavailable
	// (503).
	Code string
	// Message is for people; its wording may change.
	Message string
	// Field names the request field at fault, when one is
	// (config.audiences[0], secrets.api_key).
	Field string
	// RequestID is the answer's X-Request-ID, which names the request in
	// the server's logs.
	RequestID string
	// RetryAfter is the answer's Retry-After (429, 503), else 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" && !strings.HasPrefix(e.Message, e.Field+":") {
		s += " (field " + e.Field + ")"
	}
	return s
}

// Temporary reports whether the same request may work later: 429, 500,
// 502, 503 and 504 answers.
func (e *Error) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// IsCode reports whether err is an *Error with the code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// request is one call.
type request struct {
	method string
	path   []string // escaped one by one
	query  url.Values
	body   any     // JSON-encoded unless nil
	accept []int   // statuses that are answers, not errors
	out    any     // decoded from a JSON answer
	raw    *[]byte // the answer as is, instead of out
}

func (c *Client) do(ctx context.Context, r request) (int, error) {
	u := *c.base
	segs := make([]string, len(r.path))
	for i, p := range r.path {
		segs[i] = url.PathEscape(p)
	}
	u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + "/" + strings.Join(segs, "/")
	unescaped, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return 0, fmt.Errorf("building the path of %s: %w", r.method, err)
	}
	u.Path = unescaped
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return 0, fmt.Errorf("encoding the %s %s body: %w", r.method, u.Path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", r.method, u.Path, err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err // a *url.Error, which names the method and URL
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", r.method, u.Path, err)
	}
	if len(data) > MaxAnswerBytes {
		return resp.StatusCode, fmt.Errorf("%s %s: the answer is over %d bytes", r.method, u.Path, MaxAnswerBytes)
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	for _, s := range r.accept {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return resp.StatusCode, answerError(resp, data)
	}
	if r.raw != nil {
		*r.raw = data
		return resp.StatusCode, nil
	}
	if r.out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if c.strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(r.out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decoding the %d answer: %w", r.method, u.Path, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// call does r and answers its JSON answer decoded into a new T.
func call[T any](ctx context.Context, c *Client, r request) (*T, error) {
	var out T
	r.out = &out
	if _, err := c.do(ctx, r); err != nil {
		return nil, err
	}
	return &out, nil
}

// send does r, an operation whose answer the client does not read.
func send(ctx context.Context, c *Client, r request) error {
	_, err := c.do(ctx, r)
	return err
}

// rawAnswer does r and answers its body as is.
func rawAnswer(ctx context.Context, c *Client, r request) ([]byte, error) {
	var out []byte
	r.raw = &out
	_, err := c.do(ctx, r)
	return out, err
}

// list is the {"data": [...]} answer of the listing operations.
type list[T any] struct {
	Data []T `json:"data"`
}

// listOf does r, a listing operation, and answers the data of its answer.
func listOf[T any](ctx context.Context, c *Client, r request) ([]T, error) {
	out, err := call[list[T]](ctx, c, r)
	if err != nil {
		return nil, err
	}
	return out.Data, nil
}

// answerError turns an error answer into an *Error: the API's
// {"error": {...}}, the collect endpoint's {"status", "message"}, or a
// body of neither shape (a proxy's page) with the status alone.
func answerError(resp *http.Response, data []byte) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID")}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != nil {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
		return e
	}
	e.Message = body.Message
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	switch resp.StatusCode {
	case http.StatusBadRequest:
		e.Code = CodeMalformed
	case http.StatusUnauthorized:
		e.Code = CodeUnauthorized
	case http.StatusForbidden:
		e.Code = CodeForbidden
	case http.StatusNotFound:
		e.Code = CodeNotFound
	case http.StatusMethodNotAllowed:
		e.Code = CodeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		e.Code = CodeTooLarge
	case http.StatusTooManyRequests:
		e.Code = CodeRateLimited
	case http.StatusServiceUnavailable:
		e.Code = CodeUnavailable
	default:
		e.Code = CodeInternal
	}
	return e
}

// accountPath is the path of a resource of an account.
func accountPath(account string, rest ...string) []string {
	return append([]string{"api", "v1", "accounts", account}, rest...)
}

// limitQuery is ?limit=n, or nothing for n <= 0.
func limitQuery(n int) url.Values {
	if n <= 0 {
		return nil
	}
	return url.Values{"limit": {strconv.Itoa(n)}}
}
