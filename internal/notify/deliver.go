package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// Defaults of a Deliverer.
const (
	// GiveUpAfterDefault: a delivery still failing this long after its
	// event is dropped, with an entry in the job's log.
	GiveUpAfterDefault = 24 * time.Hour
	// TimeoutDefault bounds one attempt.
	TimeoutDefault = 15 * time.Second
)

// Codes of the job log entries of deliveries.
const (
	// CodeFailed: an attempt failed; the delivery is retried with backoff.
	CodeFailed = "notify_failed"
	// CodeDropped: the delivery is given up.
	CodeDropped = "notify_dropped"
)

// Deliverer handles tasks.TypeNotifyDeliver: it POSTs the event, signed,
// to the job's notify URL, through the egress policy. A failed attempt is
// retried with the workers' backoff (the task's error); the first failure
// of a delivery and its drop (after GiveUpAfter, or at once for a
// destination the egress policy refuses) are entries of the job's log.
type Deliverer struct {
	Jobs   *jobs.Store
	Box    *secrets.Box
	Egress *egress.Policy
	Logger *slog.Logger
	// GiveUpAfter: GiveUpAfterDefault when zero.
	GiveUpAfter time.Duration
	// Timeout bounds one attempt: TimeoutDefault when zero.
	Timeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	client *http.Client
}

// NewDeliverer returns a Deliverer with its HTTP client: no proxy, no
// redirects followed, every connection checked by the egress policy.
func NewDeliverer(d Deliverer) *Deliverer {
	if d.GiveUpAfter <= 0 {
		d.GiveUpAfter = GiveUpAfterDefault
	}
	if d.Timeout <= 0 {
		d.Timeout = TimeoutDefault
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	dialer := d.Egress.Dialer(net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
	d.client = &http.Client{
		Timeout: d.Timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: d.Timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &d
}

// ProcessTask implements asynq.Handler.
func (d *Deliverer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p tasks.NotifyDeliver
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	log := d.Logger.With("account", p.Account, "job", p.JobID, "event", p.Event, "event_id", p.EventID)
	j, err := d.Jobs.Get(ctx, p.Account, p.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		log.InfoContext(ctx, "notification dropped: the job no longer exists")
		return nil
	}
	if err != nil {
		return err
	}
	if !j.Notify.Wants(p.Event) {
		log.InfoContext(ctx, "notification dropped: the job no longer asks for it")
		return nil
	}
	secret, err := OpenSecret(d.Box, p.Account, p.JobID, j.Notify.SealedSecret)
	if err != nil {
		return d.drop(ctx, log, p, "notify_secret_unreadable", fmt.Sprintf("the %s notification %s was dropped: the signing secret cannot be opened (%v); set notify again to get a new one", p.Event, p.EventID, errors.Unwrap(err)))
	}
	host, status, err := d.post(ctx, j.Notify.URL, secret, p)
	if err == nil {
		log.DebugContext(ctx, "notification delivered", "host", host, "status", status)
		return nil
	}
	age := d.Now().Sub(p.CreatedAt)
	switch {
	case errors.Is(err, egress.ErrForbidden):
		return d.drop(ctx, log, p, egress.Code, fmt.Sprintf("the %s notification %s to %s was dropped: %v", p.Event, p.EventID, host, err))
	case age >= d.GiveUpAfter || lastAttempt(ctx):
		return d.drop(ctx, log, p, CodeDropped, fmt.Sprintf("the %s notification %s to %s was dropped after failing for %s: %v", p.Event, p.EventID, host, age.Round(time.Second), err))
	}
	if n, _ := asynq.GetRetryCount(ctx); n == 0 {
		msg := fmt.Sprintf("delivering the %s notification %s to %s failed: %v; it is retried with backoff for up to %s", p.Event, p.EventID, host, err, d.GiveUpAfter)
		if lerr := d.Jobs.Log(ctx, p.Account, p.JobID, jobs.Entry{Level: "warn", Code: CodeFailed, Message: msg}); lerr != nil {
			return errors.Join(err, lerr)
		}
	}
	return fmt.Errorf("delivering the %s notification %s of job %s to %s: %w", p.Event, p.EventID, p.JobID, host, err)
}

// drop gives a delivery up: the job's log says why (the task retries
// when that cannot be written).
func (d *Deliverer) drop(ctx context.Context, log *slog.Logger, p tasks.NotifyDeliver, code, msg string) error {
	if err := d.Jobs.Log(ctx, p.Account, p.JobID, jobs.Entry{Level: "error", Code: code, Message: msg}); err != nil {
		return fmt.Errorf("%s; recording that in the job's log: %w", msg, err)
	}
	log.WarnContext(ctx, "notification dropped", "code", code, "reason", msg)
	return nil
}

// post sends one attempt. Its error names the host, never the whole URL
// (whose path or query may be a receiver's token).
func (d *Deliverer) post(ctx context.Context, rawURL, secret string, p tasks.NotifyDeliver) (host string, status int, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0, fmt.Errorf("the notify URL cannot be read")
	}
	host = u.Host
	ts := strconv.FormatInt(d.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(p.Body))
	if err != nil {
		return host, 0, fmt.Errorf("building the request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "brazesync-notify")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(secret, ts, p.Body))
	req.Header.Set(HeaderEvent, p.Event)
	req.Header.Set(HeaderDelivery, p.EventID)
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var fe *egress.ForbiddenError
		if errors.As(err, &fe) {
			return host, 0, fe
		}
		return host, 0, fmt.Errorf("no answer: %w", err)
	}
	defer func() {
		if cerr := resp.Body.Close(); cerr != nil && err == nil {
			d.Logger.DebugContext(ctx, "closing a notification answer", "err", cerr)
		}
	}()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)); err != nil {
		return host, resp.StatusCode, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return host, resp.StatusCode, fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	return host, resp.StatusCode, nil
}

func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	m, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= m
}
