package csvimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/brazesync/brazesync/internal/redislock"
	"github.com/redis/go-redis/v9"
)

// ErrJobBusy: another process is importing a file of the same job. Files
// of one job are imported one at a time, in order (Diff depends on it).
var ErrJobBusy = errors.New("csv import: another import of this job is running")

// ErrLeaseLost ends an import whose process could not renew the job's
// lease in time: another process may have taken the import over.
var ErrLeaseLost = errors.New("csv import: the job's lease was lost")

// LeaseTTLDefault is how long a job's lease outlives a process that died
// holding it; a live holder renews it every third of that.
const LeaseTTLDefault = 15 * time.Second

// holderTTL is how long the record of a lease's holder is kept: it
// outlives the lease when the holder dies, so that the next holder knows
// it takes an import over.
const holderTTL = 7 * 24 * time.Hour

// Holder describes who holds (or held) a job's lease.
type Holder struct {
	Token string    `json:"token"`
	Run   string    `json:"run,omitempty"`
	Host  string    `json:"host,omitempty"`
	PID   int       `json:"pid,omitempty"`
	Since time.Time `json:"since"`
}

// Lease is the held lease of a job: only its holder imports the job's
// files. It renews itself until Release; Context ends when it is lost.
type Lease struct {
	im     *Importer
	job    Job
	run    string
	holder Holder
	prev   *Holder
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	log    *slog.Logger

	mu      sync.Mutex
	cleaned bool
}

// SetLeaseTTL changes how long a job's lease outlives a dead holder
// (LeaseTTLDefault); for tests and operators that want faster takeovers.
func (im *Importer) SetLeaseTTL(d time.Duration) {
	if d > 0 {
		im.leaseTTL = d
	}
}

// LeaseTTL is how long a job's lease outlives a dead holder.
func (im *Importer) LeaseTTL() time.Duration { return im.leaseTTL }

// Acquire takes job's lease for run (a name for the holder's work, such as
// a job run id; may be empty), or returns ErrJobBusy while another process
// holds it. The lease's Context, derived from ctx, ends when the lease is
// lost. When the previous holder died holding the lease, Previous says
// who it was: its import did not finish, and the new holder takes it over
// (its temporary files are removed when the new holder first imports).
func (im *Importer) Acquire(ctx context.Context, job Job, run string) (*Lease, error) {
	host, _ := os.Hostname()
	h := Holder{Token: redislock.NewToken(), Run: run, Host: host, PID: os.Getpid(), Since: time.Now().UTC()}
	raw, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encoding lease holder: %w", err)
	}
	keys := []string{jobLockKey(im.ns, job.Account, job.ID), jobHolderKey(im.ns, job.Account, job.ID)}
	res, err := acquireLeaseScript.Run(ctx, im.rdb, keys, h.Token, im.leaseTTL.Milliseconds(), raw, holderTTL.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("taking the lease of import job %q: %w", job.ID, err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("taking the lease of import job %q: unexpected answer %v", job.ID, res)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		return nil, fmt.Errorf("%w: job %q", ErrJobBusy, job.ID)
	}
	lctx, cancel := context.WithCancelCause(ctx)
	l := &Lease{im: im, job: job, run: run, holder: h, ctx: lctx, cancel: cancel,
		stop: make(chan struct{}), done: make(chan struct{}),
		log: im.log.With("account", job.Account, "job", job.ID)}
	if s, _ := res[1].(string); s != "" {
		var prev Holder
		if err := json.Unmarshal([]byte(s), &prev); err != nil {
			l.log.Warn("the previous holder of an import job's lease is unreadable", "error", err.Error())
			prev = Holder{}
		}
		l.prev = &prev
	}
	go l.renew()
	return l, nil
}

// Context ends when the lease is lost (cause ErrLeaseLost) or released.
func (l *Lease) Context() context.Context { return l.ctx }

// Previous is the holder that died holding the lease before this one took
// it, or nil.
func (l *Lease) Previous() *Holder { return l.prev }

// Token names this holding of the lease.
func (l *Lease) Token() string { return l.holder.Token }

// Job is the job the lease is of.
func (l *Lease) Job() Job { return l.job }

func (l *Lease) renew() {
	defer close(l.done)
	ttl := l.im.leaseTTL
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	renewed := time.Now()
	key := jobLockKey(l.im.ns, l.job.Account, l.job.ID)
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
			renewedNow, err := redislock.Renew(ctx, l.im.rdb, key, l.holder.Token, ttl)
			cancel()
			switch {
			case err == nil && renewedNow:
				renewed = time.Now()
				continue
			case err == nil:
				l.log.Warn("import job lease lost: another process may take the import over")
			case time.Since(renewed) < ttl:
				l.log.Warn("renewing the import job's lease; trying again", "error", err.Error())
				continue
			default:
				l.log.Warn("import job lease not renewed in time: it expired", "error", err.Error())
			}
			l.cancel(ErrLeaseLost)
			return
		}
	}
}

// Release gives the lease up (its Context ends). It is idempotent.
func (l *Lease) Release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		defer l.cancel(context.Canceled)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := redislock.Release(ctx, l.im.rdb, jobLockKey(l.im.ns, l.job.Account, l.job.ID), l.holder.Token, jobHolderKey(l.im.ns, l.job.Account, l.job.ID)); err != nil {
			l.log.Warn("releasing the import job's lease; it expires by itself", "error", err.Error())
		}
	})
}

// CleanTemp removes the job's temporary files (staging files, zip copies)
// from dir, once per lease: they were left by a holder that died or lost
// the lease. ImportFile calls it with its TempDir; a holder calls it at
// once to clean up even when it imports nothing.
func (l *Lease) CleanTemp(dir string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cleaned {
		return
	}
	l.cleaned = true
	if dir == "" {
		dir = os.TempDir()
	}
	removed, err := cleanJobTemp(dir, l.job)
	if len(removed) > 0 {
		l.log.Info("removed the temporary files of an import that stopped", "files", removed)
	}
	if err != nil {
		l.log.Warn("removing the temporary files of an import that stopped", "error", err.Error())
	}
}

// LeaseState says who holds job's lease: the token of the live holder
// ("" when none), and the record of the last holder, which outlives the
// lease only when that holder died holding it (nil otherwise).
func (im *Importer) LeaseState(ctx context.Context, job Job) (live string, last *Holder, err error) {
	pipe := im.rdb.Pipeline()
	lock := pipe.Get(ctx, jobLockKey(im.ns, job.Account, job.ID))
	holder := pipe.Get(ctx, jobHolderKey(im.ns, job.Account, job.ID))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", nil, fmt.Errorf("reading the lease of import job %q: %w", job.ID, err)
	}
	live = lock.Val()
	if raw := holder.Val(); raw != "" {
		var h Holder
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			return "", nil, fmt.Errorf("decoding the lease holder of import job %q: %w", job.ID, err)
		}
		last = &h
	}
	return live, last, nil
}
