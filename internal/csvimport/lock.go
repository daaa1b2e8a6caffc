package csvimport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrJobBusy: another process is importing a file of the same job. Files
// of one job are imported one at a time, in order (Diff depends on it).
var ErrJobBusy = errors.New("csv import: another import of this job is running")

// LockTTLDefault is how long a job lock outlives a process that died
// holding it; a live holder renews it every third of that.
const LockTTLDefault = 2 * time.Minute

// jobLock is a held job lock; it renews itself until release.
type jobLock struct {
	im    *Importer
	key   string
	token string
	ttl   time.Duration
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	log   *slog.Logger
}

func (im *Importer) lockJob(ctx context.Context, job Job) (*jobLock, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	l := &jobLock{im: im, key: jobLockKey(im.ns, job.Account, job.ID), token: hex.EncodeToString(b[:]),
		ttl: im.lockTTL, stop: make(chan struct{}), done: make(chan struct{}), log: im.log}
	ok, err := im.rdb.SetNX(ctx, l.key, l.token, l.ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("locking import job %q: %w", job.ID, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: job %q", ErrJobBusy, job.ID)
	}
	go l.renew()
	return l, nil
}

func (l *jobLock) renew() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
			n, err := renewLockScript.Run(ctx, l.im.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
			cancel()
			if err != nil {
				l.log.Warn("renewing import job lock", "error", err.Error())
			} else if n == 0 {
				l.log.Warn("import job lock lost; another process may import this job")
				return
			}
		}
	}
}

func (l *jobLock) release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := releaseLockScript.Run(ctx, l.im.rdb, []string{l.key}, l.token).Err(); err != nil {
			l.log.Warn("releasing import job lock; it expires by itself", "error", err.Error())
		}
	})
}
