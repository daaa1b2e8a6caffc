package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/redis/go-redis/v9"
)

// Events a job's notify settings may ask for.
const (
	// EventRunCompleted: a run ended with outcome success or partial.
	EventRunCompleted = "run_completed"
	// EventRunFailed: a run ended with outcome failed.
	EventRunFailed = "run_failed"
	// EventHealthChanged: the job's health changed (ok, retrying, failing).
	EventHealthChanged = "health_changed"
)

// Events lists every event, in the order the documentation gives them.
var Events = []string{EventRunCompleted, EventRunFailed, EventHealthChanged}

// Notify is where a job's events are POSTed, and which ones.
type Notify struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Secret is the plain signing secret: set only in the answer of the
	// request that gave the job a new secret, never stored.
	Secret string `json:"secret,omitempty"`
	// SealedSecret is the signing secret as stored, sealed; never shown.
	// In an Input, it is the new secret, used when the job has none yet or
	// RotateSecret is set; otherwise the job keeps its secret (and the
	// answer shows no Secret).
	SealedSecret string `json:"-"`
	RotateSecret bool   `json:"-"`
}

// Wants reports whether n asks for event.
func (n *Notify) Wants(event string) bool { return n != nil && slices.Contains(n.Events, event) }

// checkNotify is what the store itself requires of notify settings; the
// URL's scheme and destination are checked by internal/notify at the edge.
func checkNotify(n *Notify) error {
	if n.URL == "" {
		return &fault.ValidationError{Field: "notify.url", Message: "is required"}
	}
	if len(n.Events) == 0 {
		return &fault.ValidationError{Field: "notify.events", Message: fmt.Sprintf("needs at least one of %v", Events)}
	}
	for _, e := range n.Events {
		if !slices.Contains(Events, e) {
			return &fault.ValidationError{Field: "notify.events", Message: fmt.Sprintf("%q is not one of %v", e, Events)}
		}
	}
	if n.SealedSecret == "" {
		return errors.New("notify settings without a signing secret")
	}
	return nil
}

// Event is something that happened to a job whose notify settings ask
// for it.
type Event struct {
	// ID names the event: the same for the same run's end, however many
	// times it is reported.
	ID   string
	Type string
	At   time.Time
	// Job is the job as it is stored when the event happens.
	Job *Job
	// Run is the run that ended (run events) or the run behind a health
	// change, when known.
	Run *Run
	// Health and PreviousHealth are the job's health after and before a
	// health change; LastError the problem behind a health that is not ok.
	Health, PreviousHealth string
	LastError              *LastError
}

// EventSink hears of events (internal/notify enqueues their deliveries).
// An error is returned to the caller of the store method that caused the
// event.
type EventSink interface {
	JobEvent(ctx context.Context, e Event) error
}

// SetEvents makes the store tell sink of the events of jobs that ask for
// them. Call it before the store is used.
func (s *Store) SetEvents(sink EventSink) { s.events = sink }

// runEvent reports the end of a run to the event sink when the job asks
// for it.
func (s *Store) runEvent(ctx context.Context, account, id, runID string) error {
	j, err := s.Get(ctx, account, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if j.Notify == nil {
		return nil
	}
	r, err := s.GetRun(ctx, account, id, runID)
	if err != nil {
		return err
	}
	typ := EventRunCompleted
	if r.Outcome == OutcomeFailed {
		typ = EventRunFailed
	}
	if !j.Notify.Wants(typ) {
		return nil
	}
	at := s.now().UTC()
	if r.EndedAt != nil {
		at = *r.EndedAt
	}
	return s.events.JobEvent(ctx, Event{ID: fmt.Sprintf("%s.%s.%s", j.ID, r.ID, typ), Type: typ, At: at, Job: j, Run: r})
}

// healthEvent reports a change of a job's health to the event sink when
// the job asks for it.
func (s *Store) healthEvent(ctx context.Context, account, id, runID, from, to string, last *LastError) error {
	if s.events == nil {
		return nil
	}
	j, err := s.Get(ctx, account, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !j.Notify.Wants(EventHealthChanged) {
		return nil
	}
	e := Event{Type: EventHealthChanged, At: s.now().UTC(), Job: j, Health: to, PreviousHealth: from, LastError: last}
	e.ID = fmt.Sprintf("%s.health.%d.%s", j.ID, e.At.UnixNano(), to)
	if runID != "" {
		r, err := s.GetRun(ctx, account, id, runID)
		switch {
		case err == nil:
			e.Run = r
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	if err := s.events.JobEvent(ctx, e); err != nil {
		return fmt.Errorf("job %s is %s; reporting it: %w", id, to, err)
	}
	return nil
}

// ReplaceNotifySecrets calls f with the sealed notify secret of every job
// of account that has one (deleted jobs too) and stores what f returns in
// its place when f reports a change (a secret sealed again with another
// master key); the job's version and everything else stay. A job whose
// secret changed meanwhile is left as it is. It returns how many changed.
func (s *Store) ReplaceNotifySecrets(ctx context.Context, account string, f func(jobID, sealed string) (string, bool, error)) (int, error) {
	key := s.key(account)
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return 0, fmt.Errorf("listing jobs of account %s: %w", account, err)
	}
	n := 0
	for id, v := range m {
		j, err := decodeJob([]byte(v))
		if err != nil {
			return n, fmt.Errorf("decoding job %s of account %s: %w", id, account, err)
		}
		if j.Notify == nil || j.Notify.SealedSecret == "" {
			continue
		}
		old := j.Notify.SealedSecret
		next, changed, err := f(id, old)
		if err != nil {
			return n, fmt.Errorf("job %s of account %s: %w", id, account, err)
		}
		if !changed {
			continue
		}
		err = s.watchRetry(ctx, id, func(tx *redis.Tx) error {
			cur, err := txJob(ctx, tx, key, id)
			if err != nil {
				return err
			}
			if cur.Notify == nil || cur.Notify.SealedSecret != old {
				return nil
			}
			cur.Notify.SealedSecret = next
			err = txSaveJob(ctx, tx, key, cur)
			if err == nil {
				n++
			}
			return err
		}, key)
		if err != nil {
			return n, fmt.Errorf("storing the notify secret of job %s: %w", id, err)
		}
	}
	return n, nil
}
