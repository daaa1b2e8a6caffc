// Package export sends audience membership to Braze: the Export Audience
// job's engine.
//
// Delivery is state-based (docs/architecture.md). The change log only says
// which profiles are dirty for a job; a sender leases dirty profiles in
// batches, reads each one's current membership across the job's audiences
// and sends one attribute object per user ({"add": [in], "remove": [out]},
// or in boolean mode one true/false attribute per audience; buildUser).
// What Braze accepted is remembered per user, and a user whose state equals
// it is not sent again. Retries, duplicates and reordering therefore cannot
// leave Braze wrong, and at-least-once task delivery is safe.
//
// The work of a job is three kinds of small task, all safe to run twice:
// feed (change log -> dirty set), backfill (a chunk of current members ->
// dirty set) and send (lease, send, complete, for a bounded time). Due says
// which are needed now; the scheduler's pump enqueues them (at most one feed
// and one backfill per job, and as many senders as the job's Braze rate
// limit keeps busy), so a big backfill is fed to the queues progressively and
// never holds other accounts' exports behind it. Workers also enqueue a
// job's next tasks themselves when they make users wait or end a sender's
// budget, so that no step waits for the scheduler's tick.
//
// Crashes: a sender leases its users and its slot for Lease (15 s); when a
// worker dies both come back by themselves and the pump's uniqueness
// (tasks.ExportStepUnique, 20 s) lets replacements in, long before Asynq recovers the
// dead worker's tasks. A lease is completed only by its holder, and a batch's
// request is abandoned before its lease ends, so two senders never hold one
// user.
//
// Braze errors are classified once: 429 blocks the workspace until Braze's
// reset (shared through ratelimit), 5xx and missing answers are retried a
// few times with jittered backoff and then by Asynq, anything else fails the
// job (fault.PermanentError). Metrics go to Options.Registerer.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Profiles reads profiles in batches.
type Profiles interface {
	GetMany(ctx context.Context, account string, ids []string) ([]*profiles.Profile, error)
	// FieldValues reads one field of many profiles (a preview reads the
	// identifier field of every user it counts).
	FieldValues(ctx context.Context, account string, ids []string, field string) ([]profiles.FieldValue, error)
}

// Audiences reads memberships.
type Audiences interface {
	changelog.MemberSource
	ProfilesAudiences(ctx context.Context, acct string, ids []string) (map[string][]string, error)
	Size(ctx context.Context, acct, slug string) (int64, error)
	// MemberBitmaps reads audiences' member bitmaps whole (bit n, most
	// significant first, is profile n).
	MemberBitmaps(ctx context.Context, acct string, slugs []string) ([][]byte, error)
	// Evaluating tells whether any of the audiences is still taking in
	// the existing profiles (a new or changed rule).
	Evaluating(ctx context.Context, acct string, slugs []string) (bool, error)
}

// Credentials opens authorizations.
type Credentials interface {
	Credentials(ctx context.Context, account, id string) (*authorizations.Authorization, map[string]string, error)
}

// Defaults of Options.
const (
	SendersDefault       = 4
	BackfillChunkDefault = 5000
	HighWaterDefault     = 30000
	LeaseDefault         = 15 * time.Second
	MaxInlineWaitDefault = 4 * time.Second
	InFlightDefault      = 32
	HeadroomDefault      = 0.99
	// BurstFractionDefault is the share of the budget an idle limiter lets
	// through back to back; the rest is paced evenly (see ratelimit.Limit).
	BurstFractionDefault = 0.02
)

// Options tune the engine.
type Options struct {
	// Senders is the most send tasks of one job that run at once. A job
	// gets as many as its authorization's rate limit needs (one for every
	// RequestsPerSender x InFlight requests a second, at least MinSenders),
	// so that a slow workspace does not hold workers that could not send
	// anyway, and a fast one leaves workers to other accounts' tasks.
	// Default SendersDefault.
	Senders int
	// InFlight is the most requests one sender keeps in flight: it leases
	// and plans the next batches while earlier ones wait for Braze's
	// answer. A sender of a slow workspace keeps fewer, as many as its
	// share of the rate limit needs (one per RequestsPerSender requests a
	// second), so that few wait on the limiter. Default InFlightDefault.
	InFlight int
	// BackfillChunk is how many members one backfill task marks. Default
	// BackfillChunkDefault.
	BackfillChunk int
	// HighWater stops feeding backfill chunks while this many users wait.
	// Default HighWaterDefault.
	HighWater int64
	// Lease is how long a sender holds a batch of users (and its sender
	// slot) before they return to waiting if it dies. A batch's Braze
	// request is abandoned a fifth of the lease before it ends. Default
	// LeaseDefault.
	Lease time.Duration
	// MaxInlineWait: rate-limit waits up to this long are slept in the task;
	// longer ones end the task with a wait. Default MaxInlineWaitDefault.
	MaxInlineWait time.Duration
	// Headroom is the share of the Braze limit used. Default
	// HeadroomDefault: Braze's X-RateLimit-* headers correct the limiter
	// when others use the same workspace.
	Headroom float64
	// BurstFraction is the share of the budget that may go back to back
	// after an idle spell. Default BurstFractionDefault (at least 2
	// requests).
	BurstFraction float64
	// AllowInsecure permits http Braze endpoints (simulator).
	AllowInsecure bool
	// AllowCustomEndpoints permits Braze endpoints outside Braze's domains
	// (simulator); checked again when a job sends, so an authorization
	// saved before the operator withdrew it no longer sends.
	AllowCustomEndpoints bool
	// Egress is the policy every connection to a Braze endpoint passes
	// (BRAZESYNC_EGRESS_ALLOW). Nil: the default policy, which refuses
	// loopback, private, link-local and the other internal ranges.
	Egress *egress.Policy
	// Registerer receives the engine's Prometheus counters (Braze requests
	// by status, rate-limit waits, users by outcome). Nil: no metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// Engine runs export jobs.
type Engine struct {
	rdb     redis.UniversalClient
	k       keys
	jobs    *jobs.Store
	creds   Credentials
	prof    Profiles
	aud     Audiences
	log     *changelog.Log
	limiter *ratelimit.Limiter
	opts    Options
	metrics *metrics

	mu      sync.Mutex
	clients map[string]cachedClient
	// okSeen is when each job ("<account>/<job>") was last seen ok after
	// a delivery (see delivered).
	okSeen map[string]time.Time
}

type cachedClient struct {
	updated time.Time
	// sig identifies the config and key the client was built with: an
	// update within the same second as the last one changes it too.
	sig    [32]byte
	client *braze.Client
	limit  ratelimit.Limit
}

// New returns an Engine.
func New(rdb redis.UniversalClient, ns keyspace.Namespace, js *jobs.Store, creds Credentials, prof Profiles, aud Audiences, log *changelog.Log, limiter *ratelimit.Limiter, opts Options) *Engine {
	if opts.Senders <= 0 {
		opts.Senders = SendersDefault
	}
	if opts.InFlight <= 0 {
		opts.InFlight = InFlightDefault
	}
	if opts.BackfillChunk <= 0 {
		opts.BackfillChunk = BackfillChunkDefault
	}
	if opts.HighWater <= 0 {
		opts.HighWater = HighWaterDefault
	}
	if opts.Lease <= 0 {
		opts.Lease = LeaseDefault
	}
	if opts.MaxInlineWait <= 0 {
		opts.MaxInlineWait = MaxInlineWaitDefault
	}
	if opts.Headroom <= 0 || opts.Headroom > 1 {
		opts.Headroom = HeadroomDefault
	}
	if opts.BurstFraction <= 0 || opts.BurstFraction > 1 {
		opts.BurstFraction = BurstFractionDefault
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Engine{rdb: rdb, k: keys{ns}, jobs: js, creds: creds, prof: prof, aud: aud, log: log, limiter: limiter, opts: opts, metrics: newMetrics(opts.Registerer), clients: map[string]cachedClient{}, okSeen: map[string]time.Time{}}
}

// Senders is the most senders a job may have at once.
func (e *Engine) Senders() int { return e.opts.Senders }

func consumerName(jobID string) string { return "export:" + jobID }

func member(acct, job string) string { return acct + "/" + job }

// Setup makes a job's change-log consumer (at "now": only changes after the
// job starts are sent) and, with existing_users, starts the backfill. It is
// idempotent.
func (e *Engine) Setup(ctx context.Context, j *jobs.Job) error {
	cfg, err := ParseConfig(j.Config)
	if err != nil {
		return err
	}
	_, created, err := e.log.CreateConsumer(ctx, j.Account, consumerName(j.ID), changelog.StartNow)
	if err != nil {
		return fmt.Errorf("creating change-log consumer of job %s: %w", j.ID, err)
	}
	if created && cfg.ExistingUsers {
		if err := e.startBackfill(ctx, j.Account, j.ID, cfg.Audiences); err != nil {
			return err
		}
	}
	if err := e.rdb.SAdd(ctx, e.k.active(), member(j.Account, j.ID)).Err(); err != nil {
		return fmt.Errorf("activating export job %s: %w", j.ID, err)
	}
	return nil
}

// startBackfill (re)starts a walk over the current members of auds; an
// unfinished walk's audiences are kept.
func (e *Engine) startBackfill(ctx context.Context, acct, jobID string, auds []string) error {
	st, err := e.rdb.HMGet(ctx, e.k.state(acct, jobID), "bf_pending", "bf_auds").Result()
	if err != nil {
		return fmt.Errorf("reading backfill of job %s: %w", jobID, err)
	}
	all := slices.Clone(auds)
	if p, _ := st[0].(string); p == "1" {
		s, _ := st[1].(string)
		prev, err := audienceList(s, "audiences of the backfill", jobID)
		if err != nil {
			return err
		}
		for _, a := range prev {
			if !slices.Contains(all, a) {
				all = append(all, a)
			}
		}
	}
	var total int64
	for _, a := range all {
		n, err := e.aud.Size(ctx, acct, a)
		if err != nil {
			return err
		}
		total += n
	}
	b, _ := json.Marshal(all)
	err = e.rdb.HSet(ctx, e.k.state(acct, jobID), "bf_pending", "1", "bf_cursor", "", "bf_auds", string(b), "bf_seen", 0, "bf_total", total).Err()
	if err != nil {
		return fmt.Errorf("starting backfill of job %s: %w", jobID, err)
	}
	return nil
}

// Changed applies a job change: a deleted job is torn down; a change of
// audiences retires the dropped ones (their members get "remove") and, with
// existing_users, backfills the added ones.
func (e *Engine) Changed(ctx context.Context, before, after *jobs.Job) error {
	if after.State == jobs.StateDeleted {
		return e.Teardown(ctx, after.Account, after.ID)
	}
	if before == nil {
		return e.Setup(ctx, after)
	}
	old, err1 := ParseConfig(before.Config)
	cur, err2 := ParseConfig(after.Config)
	if err1 != nil || err2 != nil {
		return errors.Join(err1, err2)
	}
	var dropped, added []string
	for _, a := range old.Audiences {
		if !slices.Contains(cur.Audiences, a) {
			dropped = append(dropped, a)
		}
	}
	for _, a := range cur.Audiences {
		if !slices.Contains(old.Audiences, a) {
			added = append(added, a)
		}
	}
	// A new representation (mode or boolean prefix), or audiences dropped
	// from a boolean-mode job (users whose attribute is false are not
	// their members), concerns every user Braze holds a state of.
	if representation(old) != representation(cur) || (cur.Mode == ModeBoolean && len(dropped) > 0) {
		if err := e.startResend(ctx, after.Account, after.ID); err != nil {
			return err
		}
		// Without a schedule, they are sent now rather than when enough
		// wait; with one, at its next occurrence.
		if after.Schedule == "" {
			if err := e.RequestFlush(ctx, after.Account, after.ID); err != nil {
				return err
			}
		}
	}
	if len(dropped) == 0 && len(added) == 0 {
		return nil
	}
	retired, err := e.retired(ctx, after.Account, after.ID)
	if err != nil {
		return err
	}
	for _, a := range dropped {
		if !slices.Contains(retired, a) {
			retired = append(retired, a)
		}
	}
	retired = slices.DeleteFunc(retired, func(a string) bool { return slices.Contains(cur.Audiences, a) })
	b, _ := json.Marshal(retired)
	if err := e.rdb.HSet(ctx, e.k.state(after.Account, after.ID), "retired", string(b)).Err(); err != nil {
		return fmt.Errorf("retiring audiences of job %s: %w", after.ID, err)
	}
	walk := slices.Clone(dropped)
	if cur.ExistingUsers {
		walk = append(walk, added...)
	}
	if len(walk) > 0 {
		return e.startBackfill(ctx, after.Account, after.ID, walk)
	}
	return nil
}

func (e *Engine) retired(ctx context.Context, acct, jobID string) ([]string, error) {
	s, err := e.rdb.HGet(ctx, e.k.state(acct, jobID), "retired").Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading retired audiences of job %s: %w", jobID, err)
	}
	return audienceList(s, "retired audiences", jobID)
}

// audienceList decodes a list of audience slugs the job's state holds as
// JSON (what names it, for the error): "" is none.
func audienceList(s, what, jobID string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("reading the %s of job %s: %w", what, jobID, err)
	}
	return out, nil
}

// Teardown forgets a deleted job: its consumer, waiting users and state.
func (e *Engine) Teardown(ctx context.Context, acct, jobID string) error {
	if err := e.rdb.SRem(ctx, e.k.active(), member(acct, jobID)).Err(); err != nil {
		return fmt.Errorf("deactivating export job %s: %w", jobID, err)
	}
	if err := e.log.DeleteConsumer(ctx, acct, consumerName(jobID)); err != nil && !errors.Is(err, changelog.ErrNoConsumer) {
		return err
	}
	if err := e.rdb.Del(ctx, e.k.dirty(acct, jobID), e.k.inflight(acct, jobID), e.k.sent(acct, jobID), e.k.omitted(acct, jobID), e.k.state(acct, jobID), e.k.errors(acct, jobID)).Err(); err != nil {
		return fmt.Errorf("deleting state of export job %s: %w", jobID, err)
	}
	return nil
}

// Recheck walks every current member of the job's audiences again, as a
// backfill does: members whose state Braze already has cost nothing, the
// others are sent. It repairs a Braze workspace changed behind the job's
// back (after the sent states are forgotten) and measures a no-op run.
func (e *Engine) Recheck(ctx context.Context, j *jobs.Job) error {
	cfg, err := ParseConfig(j.Config)
	if err != nil {
		return err
	}
	return e.startBackfill(ctx, j.Account, j.ID, cfg.Audiences)
}

// RequestFlush asks for every waiting user to be sent now (a job run: manual,
// scheduled or at creation). Each request is a new token, so that a plan
// that saw an earlier one and found nothing waiting does not clear it.
func (e *Engine) RequestFlush(ctx context.Context, acct, jobID string) error {
	if err := e.rdb.HSet(ctx, e.k.state(acct, jobID), "flush", flushToken()).Err(); err != nil {
		return fmt.Errorf("requesting flush of job %s: %w", jobID, err)
	}
	return nil
}

// flushToken is a new flush request's token.
func flushToken() string {
	return strconv.FormatInt(time.Now().UnixNano(), 36) + "." + strconv.FormatUint(rand.Uint64(), 36)
}

// clearFlush withdraws the flush request token once everything it asked
// for was sent, unless a newer request replaced it.
func (e *Engine) clearFlush(ctx context.Context, acct, jobID, token string) error {
	if err := hdelIfScript.Run(ctx, e.rdb, []string{e.k.state(acct, jobID)}, "flush", token).Err(); err != nil {
		return fmt.Errorf("clearing the flush request of job %s: %w", jobID, err)
	}
	return nil
}

func (e *Engine) nowMS() int64 { return e.opts.Now().UnixMilli() }

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

func atoi(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
