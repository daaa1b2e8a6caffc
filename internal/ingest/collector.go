// Package ingest is the collect endpoint's durable path: it parses request
// bodies, checks their records against the stream's mapping, appends
// accepted requests to a per-account Redis Stream before answering, and
// a Processor applies them to profiles.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/redis/go-redis/v9"
)

// Defaults of CollectorOptions.
const (
	MaxBodyBytesDefault      = 10 << 20
	RateDefault              = 1000
	MaxBacklogDefault        = 1_000_000
	MaxRejectedInBodyDefault = 100
)

// Errors of Collect, translated to HTTP statuses by ServeCollect.
var (
	// ErrUnavailable means the request could not be made durable (Redis
	// unreachable or the backlog full); the client should retry (503).
	ErrUnavailable = errors.New("ingest queue unavailable")
	// ErrBodyTooLarge means the body passed MaxBodyBytes (413).
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrBadStream means the stream name is not acceptable (400).
	ErrBadStream = errors.New("bad stream name")
)

// RateLimitedError is returned when the account's ingest rate is exceeded (429).
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("ingest rate limit exceeded; retry after %v", e.RetryAfter)
}

// Checker checks records against a stream's mapping without writing.
// *profiles.Store implements it.
type Checker interface {
	Check(ctx context.Context, account, stream string, records []profiles.Record) ([]profiles.Rejection, error)
}

// CollectorOptions tune a Collector; the zero value uses the defaults.
type CollectorOptions struct {
	Logger *slog.Logger
	// MaxBodyBytes is the largest body accepted (default 10 MB).
	MaxBodyBytes int64
	// Rate is the per-account limit in requests per second (default
	// RateDefault); a negative rate disables the limit.
	Rate float64
	// Burst is how many requests may come at once (default 2 × Rate).
	Burst int
	// MaxBacklog is the ingest stream length above which requests get 503
	// until the processor catches up (default MaxBacklogDefault).
	MaxBacklog int64
	// MaxRejectedInBody caps the rejections listed in a response; all of
	// them go to the stream's log (default MaxRejectedInBodyDefault).
	MaxRejectedInBody int
}

func (o CollectorOptions) withDefaults() CollectorOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = MaxBodyBytesDefault
	}
	if o.Rate == 0 {
		o.Rate = RateDefault
	}
	if o.Burst <= 0 {
		o.Burst = max(1, int(2*o.Rate))
	}
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = MaxBacklogDefault
	}
	if o.MaxRejectedInBody <= 0 {
		o.MaxRejectedInBody = MaxRejectedInBodyDefault
	}
	return o
}

// Collector accepts collect requests.
type Collector struct {
	rdb     redis.UniversalClient
	keys    keys
	checker Checker
	opt     CollectorOptions
	log     *slog.Logger
	batch   *batcher

	mu       sync.Mutex
	accounts map[string]*accountState
}

// NewCollector returns a Collector that checks records with checker and
// queues them in rdb under ns.
func NewCollector(rdb redis.UniversalClient, ns keyspace.Namespace, checker Checker, opts CollectorOptions) *Collector {
	opts = opts.withDefaults()
	return &Collector{
		rdb: rdb, keys: keys{ns: ns}, checker: checker, opt: opts,
		log:      opts.Logger.With("component", "ingest"),
		batch:    newBatcher(rdb, keys{ns: ns}.active()),
		accounts: map[string]*accountState{},
	}
}

// Response is the Lytics-style answer of the collect endpoint.
type Response struct {
	Status  int           `json:"status"`
	Message string        `json:"message"`
	Data    *ResponseData `json:"data,omitempty"`
}

// ResponseData counts the records of a request.
type ResponseData struct {
	// MessageCount is the number of records accepted (queued, or that would
	// be queued on a dry run).
	MessageCount int `json:"message_count"`
	// RejectedCount is the number of records rejected.
	RejectedCount int `json:"rejected_count"`
	// Rejected lists the first rejections (MaxRejectedInBody); every
	// rejection is also written to the stream's log.
	Rejected []profiles.Rejection `json:"rejected,omitempty"`
	DryRun   bool                 `json:"dryrun,omitempty"`
}

var streamName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Collect parses body, checks its records against the stream's mapping and,
// unless dryRun, appends the request to the account's ingest stream. It
// returns only after the request is stored in Redis.
func (c *Collector) Collect(ctx context.Context, account, stream, contentType string, body []byte, dryRun bool) (Response, error) {
	if err := ValidStream(stream); err != nil {
		return Response{}, err
	}
	if int64(len(body)) > c.opt.MaxBodyBytes {
		return Response{}, ErrBodyTooLarge
	}
	parsed, err := ParseRecords(contentType, body)
	if err != nil {
		return Response{}, err
	}
	rejected, index := parsed.Problems, parsed.Index
	rej, err := c.checker.Check(ctx, account, stream, parsed.Records)
	if err != nil {
		return Response{}, fmt.Errorf("%w: checking records of stream %q: %v", ErrUnavailable, stream, err)
	}
	for _, r := range rej {
		rejected = append(rejected, profiles.Rejection{Index: index[r.Index], Reason: r.Reason})
	}
	sortRejections(rejected)
	accepted := parsed.Items - len(rejected)
	data := &ResponseData{MessageCount: accepted, RejectedCount: len(rejected), DryRun: dryRun}
	data.Rejected = rejected[:min(len(rejected), c.opt.MaxRejectedInBody)]
	resp := Response{Status: 200, Message: "success", Data: data}
	if dryRun {
		return resp, nil
	}
	if accepted > 0 {
		if err := c.enqueue(ctx, account, stream, contentType, body, rejected); err != nil {
			return Response{}, err
		}
	}
	if len(rejected) > 0 {
		c.logRejections(ctx, account, stream, rejected)
	}
	return resp, nil
}

// enqueue appends one request to the account's ingest stream after the
// rate limit and the backlog let it in: one round trip (a pipeline of XADD,
// SADD to the active set and, now and then, XLEN, shared with the requests
// queued at the same moment) for most requests, and now and then one more
// for a rate-limit lease or a backlog check.
func (c *Collector) enqueue(ctx context.Context, account, stream, contentType string, body []byte, rejected []profiles.Rejection) error {
	readLength, err := c.admit(ctx, account)
	if err != nil {
		return err
	}
	var rej strings.Builder
	for i, r := range rejected {
		if i > 0 {
			rej.WriteByte(',')
		}
		rej.WriteString(strconv.Itoa(r.Index))
	}
	w := &queueWrite{
		account: account,
		key:     c.keys.queue(account),
		values: []any{
			fieldStream, stream,
			fieldArrival, time.Now().UnixMilli(),
			fieldContentType, contentType,
			fieldBody, body,
			fieldRejected, rej.String(),
		},
		size:       len(body),
		readLength: readLength,
	}
	c.batch.write(ctx, w)
	if err := w.addErr; err != nil {
		return fmt.Errorf("%w: queueing request of account %q: %v", ErrUnavailable, account, err)
	}
	if err := w.activeErr; err != nil {
		// Queued, but maybe not marked active: the processor may not see
		// it until another request of the account marks it, and the client
		// would not know. Say the request failed; its retry is applied
		// twice at worst, which an upsert makes harmless.
		return fmt.Errorf("%w: marking account %q active: %v", ErrUnavailable, account, err)
	}
	if w.length >= 0 {
		c.queued(account, w.length)
	}
	return nil
}

// logRejections writes rejections to the stream's log; failures are only
// logged, as the request itself is already answered.
func (c *Collector) logRejections(ctx context.Context, account, stream string, rejected []profiles.Rejection) {
	if err := writeRejections(ctx, c.rdb, c.keys.streamLog(account, stream), rejected); err != nil {
		c.log.Warn("writing rejections to the stream log", "account", account, "stream", stream, "err", err)
	}
}

func sortRejections(r []profiles.Rejection) {
	slices.SortFunc(r, func(a, b profiles.Rejection) int { return cmp.Compare(a.Index, b.Index) })
}

// ValidStream checks a stream name: 1 to 64 letters, digits, '_', '.' or '-'.
func ValidStream(stream string) error {
	if !streamName.MatchString(stream) {
		return fmt.Errorf("%w %q: use 1 to 64 letters, digits, '_', '.' or '-'", ErrBadStream, stream)
	}
	return nil
}
