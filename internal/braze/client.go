// Package braze is the Braze REST client of brazesync: POST /users/track
// with audience membership as an array attribute, batching within Braze's
// limits, and errors classified once into Retryable, RateLimited and
// Permanent (see Error).
//
// A typical export sends one Object per user:
//
//	c, _ := braze.New(braze.Options{Endpoint: ep, APIKey: key})
//	batches, _ := c.Batches(objects)
//	for _, b := range batches {
//		// wait for the rate limiter, then:
//		res, err := c.Send(ctx, b)
//		// err is an *braze.Error; res.Errors names rejected objects.
//	}
package braze

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/egress"
)

// Client defaults.
const (
	// TimeoutDefault bounds one request, answer included.
	TimeoutDefault = 60 * time.Second
	// maxAnswer bounds how much of an answer is read.
	maxAnswer = 1 << 20
	trackPath = "/users/track"
)

// Options configures a Client.
type Options struct {
	// Endpoint is the REST endpoint, e.g. "https://rest.iad-01.braze.com"
	// (see InstanceEndpoint). Required; https unless AllowInsecure.
	Endpoint string
	// APIKey is the REST API key with the users.track permission. Required.
	APIKey string
	// AllowInsecure permits a plain http Endpoint (for a simulator).
	AllowInsecure bool
	// AllowCustomEndpoint permits an Endpoint whose host is outside
	// Braze's domains (*.braze.com, *.braze.eu), e.g. a simulator.
	AllowCustomEndpoint bool
	// Dial opens the connections of the client's own HTTP client: the
	// egress policy's dialer (egress.Dialer.DialContext), which must see
	// the destination, so no proxy from the environment is used with it.
	// Default: a plain dialer, and HTTPS_PROXY and the like are honoured.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// BatchSize is the most objects per request, 1..75. Default 75.
	BatchSize int
	// MaxBodyBytes bounds a request body. Default (and maximum)
	// MaxBodyBytes.
	MaxBodyBytes int
	// HTTPClient sends the requests. Default: a client with keep-alive
	// connections and TimeoutDefault.
	HTTPClient *http.Client
	// Logger receives warnings about answers the client does not fully
	// understand. Default: discard.
	Logger *slog.Logger
}

// Client calls Braze's /users/track. It is safe for concurrent use.
type Client struct {
	url       string
	key       string // never logged; redacted from Braze's messages
	auth      string // "Bearer <key>"
	batchSize int
	maxBody   int
	http      *http.Client
	ownHTTP   bool
	log       *slog.Logger
	now       func() time.Time
}

// New checks opts and returns a Client.
func New(opts Options) (*Client, error) {
	ep, err := CheckEndpoint(opts.Endpoint, opts.AllowInsecure, opts.AllowCustomEndpoint)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(opts.APIKey) == "" {
		return nil, errors.New("braze api_key is empty")
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = BatchSizeDefault
	}
	if opts.BatchSize < 1 || opts.BatchSize > BatchSizeMax {
		return nil, fmt.Errorf("braze batch_size must be between 1 and %d, got %d", BatchSizeMax, opts.BatchSize)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = MaxBodyBytes
	}
	if opts.MaxBodyBytes < 64 || opts.MaxBodyBytes > MaxBodyBytes {
		return nil, fmt.Errorf("braze max body must be between 64 and %d bytes, got %d", MaxBodyBytes, opts.MaxBodyBytes)
	}
	c := &Client{
		url:       ep + trackPath,
		key:       strings.TrimSpace(opts.APIKey),
		auth:      "Bearer " + strings.TrimSpace(opts.APIKey),
		batchSize: opts.BatchSize,
		maxBody:   opts.MaxBodyBytes,
		http:      opts.HTTPClient,
		log:       opts.Logger,
		now:       time.Now,
	}
	if c.http == nil {
		c.http, c.ownHTTP = newHTTPClient(opts.Dial), true
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "braze")
	return c, nil
}

// CheckEndpoint validates a REST endpoint and returns it without a
// trailing slash: an absolute https URL (http too with allowInsecure)
// without credentials, query or fragment, on a host under Braze's domains
// (*.braze.com, *.braze.eu) unless allowCustom. Its errors never show a
// password given in the URL.
func CheckEndpoint(raw string, allowInsecure, allowCustom bool) (string, error) {
	in := strings.TrimSpace(raw)
	u, err := url.Parse(in)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", errors.New("braze endpoint is not an absolute URL such as https://rest.iad-01.braze.com")
	}
	raw = u.Redacted() // never echo a password
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowInsecure:
	case u.Scheme == "http":
		return "", fmt.Errorf("braze endpoint %q uses plain http: only https is allowed (plain http needs BRAZESYNC_ALLOW_INSECURE_ENDPOINTS=true)", raw)
	default:
		return "", fmt.Errorf("braze endpoint %q: scheme must be https", raw)
	}
	if u.User != nil || strings.ContainsAny(in, "?#") {
		return "", fmt.Errorf("braze endpoint %q must not carry credentials, a query or a fragment", raw)
	}
	if !allowCustom && !IsBrazeHost(u.Hostname()) {
		return "", fmt.Errorf("braze endpoint %q is not on Braze's domains (*.braze.com, *.braze.eu); other hosts need BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS=true", raw)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// brazeDomains are the domains of Braze's REST endpoints.
var brazeDomains = []string{".braze.com", ".braze.eu"}

// IsBrazeHost reports whether host is under one of Braze's domains.
func IsBrazeHost(host string) bool {
	h := strings.ToLower(host)
	for _, d := range brazeDomains {
		if strings.HasSuffix(h, d) && len(h) > len(d) {
			return true
		}
	}
	return false
}

func newHTTPClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	proxy := http.ProxyFromEnvironment
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	} else {
		proxy = nil
	}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: TimeoutDefault,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   TimeoutDefault,
		// A redirect would turn the POST into a GET and hide a wrong
		// endpoint: answer with the 3xx instead (a Permanent error).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// BatchSize returns the most objects the client puts in one request.
func (c *Client) BatchSize() int { return c.batchSize }

// CloseIdleConnections closes the keep-alive connections of the client's
// own HTTP client (not of one given in Options).
func (c *Client) CloseIdleConnections() {
	if c.ownHTTP {
		c.http.CloseIdleConnections()
	}
}

// Track sends objects in one request. They must fit in one batch (see
// Batches); otherwise Track returns a Permanent *Error without sending.
func (c *Client) Track(ctx context.Context, objects []Object) (*TrackResult, error) {
	batches, err := split(objects, c.batchSize, c.maxBody)
	if err != nil {
		return nil, &Error{Class: Permanent, Message: err.Error(), Hint: "fix the object before sending"}
	}
	switch len(batches) {
	case 0:
		return nil, &Error{Class: Permanent, Message: "no objects to track"}
	case 1:
		return c.Send(ctx, batches[0])
	}
	return nil, &Error{Class: Permanent, Message: fmt.Sprintf("%d objects do not fit in one request (batch size %d, body under %d bytes)", len(objects), c.batchSize, c.maxBody), Hint: "split them with Batches"}
}

// Send posts one batch. On a 2xx answer (202 "queued" included) it returns
// the result and a nil error; the result's Errors name objects Braze
// rejected (a partial success). Otherwise it returns an *Error, with the
// result when an answer arrived (for its rate-limit headers).
func (c *Client) Send(ctx context.Context, b Batch) (*TrackResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b.Body))
	if err != nil {
		return nil, &Error{Class: Permanent, Message: "building request: " + err.Error(), Err: err}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "brazesync")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil && resp.StatusCode/100 != 2 {
		return nil, transportError(err)
	}
	res := &TrackResult{Status: resp.StatusCode, RateLimit: parseRateLimit(resp.Header)}
	var ans answer
	decodeErr := json.Unmarshal(body, &ans)
	res.Message = ans.Message
	if resp.StatusCode/100 != 2 {
		msg := ans.Message
		if decodeErr != nil || msg == "" {
			msg = strings.TrimSpace(string(body))
			if len(msg) > 300 {
				msg = msg[:300] + "…"
			}
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			msg = "redirected to " + loc
		}
		// A 401 may quote the key it rejected; job logs must not.
		msg = strings.ReplaceAll(msg, c.key, "[redacted]")
		return res, classify(resp.StatusCode, msg, res.RateLimit, c.now())
	}
	if err != nil || decodeErr != nil {
		// Braze accepted the request; an unreadable answer does not undo
		// that, but the counts are unknown.
		c.log.WarnContext(ctx, "braze accepted a request with an unreadable answer", "status", resp.StatusCode, "err", errors.Join(err, decodeErr))
		res.AttributesProcessed = -1
		return res, nil
	}
	res.Queued = ans.Message == "queued"
	res.AttributesProcessed = -1
	if ans.AttributesProcessed != nil {
		res.AttributesProcessed = *ans.AttributesProcessed
	}
	res.Errors = c.mapErrors(ctx, b, ans.Errors)
	return res, nil
}

// transportError classifies an error of the HTTP exchange itself: no answer
// (timeouts, refused or dropped connections) is always worth a retry.
func transportError(err error) *Error {
	var fe *egress.ForbiddenError
	if errors.As(err, &fe) {
		// The egress policy refused the endpoint before connecting: no
		// retry can change that.
		return &Error{Class: Permanent, Message: fe.Error(), Hint: hintForbidden, Err: err}
	}
	msg := "no answer from Braze: " + err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = "no answer from Braze: " + ue.Err.Error() // without the URL
	}
	return &Error{Class: Retryable, Message: msg, Err: err}
}
