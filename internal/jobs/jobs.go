// Package jobs stores workflows (jobs) generically: their config, state
// machine, schedule, runs with counters, progress and log. The store
// validates a job with its Type (name, authorization types, config check),
// which the job type's registration in internal/jobtype provides.
//
// States: running (active; runs on its schedule or when asked), paused,
// completed (a job without schedule whose run finished), failed (stopped by a
// permanent error until resumed or run again) and deleted (kept for its
// history, never runs again).
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/textcheck"
	"github.com/redis/go-redis/v9"
)

// States.
const (
	StateRunning   = "running"
	StatePaused    = "paused"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateDeleted   = "deleted"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("job not found")
	// ErrConflict is a state transition that is not allowed.
	ErrConflict = errors.New("conflict")
)

// Job is a workflow as the API shows it.
type Job struct {
	ID              string         `json:"id"`
	Account         string         `json:"account"`
	Type            string         `json:"type"`
	Label           string         `json:"label"`
	Description     string         `json:"description,omitempty"`
	AuthorizationID string         `json:"authorization_id"`
	Config          map[string]any `json:"config"`
	Schedule        string         `json:"schedule,omitempty"`
	State           string         `json:"state"`
	// Version grows with every change; workers compare it to notice changes.
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	LastRun   *Run           `json:"last_run,omitempty"`
	Progress  map[string]any `json:"progress,omitempty"`
	// Health is ok, retrying or failing (see HealthOK); LastError the
	// problem behind it, nil when ok. Neither is stored with the job.
	Health    string     `json:"health,omitempty"`
	LastError *LastError `json:"last_error"`
	// Notify, when set, is where the job's events are POSTed.
	Notify *Notify `json:"notify,omitempty"`
}

// storedJob is a Job as its hash stores it: without what is read beside
// it (health, last run, progress), with the sealed notification secret
// that the API never shows.
type storedJob struct {
	Job
	Health    string     `json:"health,omitempty"`
	LastError *LastError `json:"last_error,omitempty"`
	LastRun   *Run       `json:"last_run,omitempty"`
	// NotifySecret is Notify.SealedSecret.
	NotifySecret string `json:"notify_secret,omitempty"`
}

func encodeJob(j *Job) ([]byte, error) {
	st := storedJob{Job: *j}
	if j.Notify != nil {
		n := *j.Notify
		st.NotifySecret, n.Secret = n.SealedSecret, "" // the plain secret is never stored
		st.Notify = &n
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding job %s: %w", j.ID, err)
	}
	return b, nil
}

// decodeJob reads a job as encodeJob stored it.
func decodeJob(b []byte) (*Job, error) {
	var st storedJob
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	j := st.Job
	if j.Notify != nil {
		j.Notify.SealedSecret = st.NotifySecret
	}
	if j.Config == nil {
		j.Config = map[string]any{}
	}
	return &j, nil
}

// Type is what the store knows of a kind of job: the authorization types it
// accepts and the check of its config (jobtype.Type.Job). Validate may
// normalise Config (fill defaults).
type Type struct {
	Name               string
	AuthorizationTypes []string
	Validate           func(ctx context.Context, j *Job) error
}

// Authorizations is what the store needs to check a job's authorization.
type Authorizations interface {
	// AuthorizationType returns the type of an account's authorization, or an
	// error wrapping a not-found sentinel.
	AuthorizationType(ctx context.Context, account, id string) (string, error)
}

// Store keeps jobs in Redis.
type Store struct {
	// events hears of the events of jobs with notify settings (SetEvents).
	events EventSink
	rdb    redis.UniversalClient
	ns     keyspace.Namespace
	types  map[string]Type
	auths  Authorizations
	now    func() time.Time
	// failingAfter and logEvery are the health policy (SetHealthPolicy).
	failingAfter, logEvery time.Duration
}

// New returns a Store. now may be nil.
func New(rdb redis.UniversalClient, ns keyspace.Namespace, auths Authorizations, now func() time.Time, types ...Type) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{rdb: rdb, ns: ns, auths: auths, now: now, types: map[string]Type{}, failingAfter: FailingAfterDefault, logEvery: HealthLogEveryDefault}
	for _, t := range types {
		s.types[t.Name] = t
	}
	return s
}

// AddType registers a job type.
func (s *Store) AddType(t Type) { s.types[t.Name] = t }

// TypeNames lists the registered types.
func (s *Store) TypeNames() []string {
	out := make([]string, 0, len(s.types))
	for n := range s.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (s *Store) key(account string) string { return s.ns.Account(account, "jobs") }

// Input is a create or update request; nil fields are left unchanged.
type Input struct {
	// ID names a new job (Create only): "" for a random one. A caller
	// that must know the id before the job exists (to seal a secret for
	// it) takes one from NewJobID.
	ID              string
	Type            string
	Label           *string
	Description     *string
	AuthorizationID *string
	Config          map[string]any
	Schedule        *string
	// Notify sets the job's notify settings (see Notify for its secret);
	// RemoveNotify removes them.
	Notify       *Notify
	RemoveNotify bool
}

// NewJobID returns a random job id.
func NewJobID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "job_" + hex.EncodeToString(b)
}

func (s *Store) validate(ctx context.Context, j *Job) error {
	t, ok := s.types[j.Type]
	if !ok {
		return &fault.ValidationError{Field: "type", Message: fmt.Sprintf("%q is not one of %v", j.Type, s.TypeNames())}
	}
	if j.Label == "" {
		return &fault.ValidationError{Field: "label", Message: "is required"}
	}
	if msg := textcheck.Label(j.Label); msg != "" {
		return &fault.ValidationError{Field: "label", Message: msg}
	}
	if msg := textcheck.Description(j.Description); msg != "" {
		return &fault.ValidationError{Field: "description", Message: msg}
	}
	if _, err := ParseSchedule(j.Schedule); err != nil {
		return &fault.ValidationError{Field: "schedule", Message: err.Error()}
	}
	if len(t.AuthorizationTypes) > 0 {
		if j.AuthorizationID == "" {
			return &fault.ValidationError{Field: "authorization_id", Message: "is required"}
		}
		at, err := s.auths.AuthorizationType(ctx, j.Account, j.AuthorizationID)
		if err != nil {
			return &fault.ValidationError{Field: "authorization_id", Message: fmt.Sprintf("%q is not an authorization of this account", j.AuthorizationID)}
		}
		allowed := false
		for _, want := range t.AuthorizationTypes {
			allowed = allowed || at == want
		}
		if !allowed {
			return &fault.ValidationError{Field: "authorization_id", Message: fmt.Sprintf("is a %s authorization; %s jobs need one of %v", at, j.Type, t.AuthorizationTypes)}
		}
	}
	if j.Notify != nil {
		if err := checkNotify(j.Notify); err != nil {
			return err
		}
	}
	if t.Validate != nil {
		return t.Validate(ctx, j)
	}
	return nil
}

// Create validates and stores a job in state running.
func (s *Store) Create(ctx context.Context, account string, in Input) (*Job, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	id := in.ID
	if id == "" {
		id = NewJobID()
	} else if !validJobID(id) {
		return nil, fmt.Errorf("job id %q is not one NewJobID returns", id)
	}
	exists, err := s.rdb.HExists(ctx, s.key(account), id).Result()
	if err != nil {
		return nil, fmt.Errorf("creating job %s: %w", id, err)
	}
	if exists {
		return nil, fmt.Errorf("%w: job %s exists", ErrConflict, id)
	}
	j := &Job{ID: id, Account: account, Type: in.Type, Config: map[string]any{}, State: StateRunning, Version: 1, CreatedAt: now, UpdatedAt: now}
	apply(j, in)
	if err := s.validate(ctx, j); err != nil {
		return nil, err
	}
	if err := s.save(ctx, j); err != nil {
		return nil, err
	}
	j.Health = HealthOK
	return j, nil
}

func apply(j *Job, in Input) {
	if in.Label != nil {
		j.Label = *in.Label
	}
	if in.Description != nil {
		j.Description = *in.Description
	}
	if in.AuthorizationID != nil {
		j.AuthorizationID = *in.AuthorizationID
	}
	if in.Schedule != nil {
		j.Schedule = *in.Schedule
	}
	for k, v := range in.Config {
		if v == nil {
			delete(j.Config, k)
		} else {
			j.Config[k] = v
		}
	}
	switch {
	case in.RemoveNotify:
		j.Notify = nil
	case in.Notify != nil:
		n := *in.Notify
		n.Events = slices.Clone(n.Events)
		if j.Notify != nil && j.Notify.SealedSecret != "" && !n.RotateSecret {
			n.SealedSecret, n.Secret = j.Notify.SealedSecret, ""
		}
		n.RotateSecret = false
		j.Notify = &n
	}
}

func validJobID(id string) bool {
	h, ok := strings.CutPrefix(id, "job_")
	if !ok || len(h) != 12 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func (s *Store) save(ctx context.Context, j *Job) error {
	b, err := encodeJob(j)
	if err != nil {
		return err
	}
	pipe := s.rdb.Pipeline()
	pipe.HSet(ctx, s.key(j.Account), j.ID, b)
	s.reschedule(ctx, pipe, j)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("storing job %s: %w", j.ID, err)
	}
	return nil
}

// Get returns a job (deleted jobs too) or ErrNotFound.
func (s *Store) Get(ctx context.Context, account, id string) (*Job, error) {
	b, err := s.rdb.HGet(ctx, s.key(account), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("job: reading %s: %w", id, err)
	}
	j, err := decodeJob(b)
	if err != nil {
		return nil, fmt.Errorf("job: decoding %s: %w", id, err)
	}
	return j, nil
}

// List returns an account's jobs with their health and newest run, oldest
// first; deleted ones only if asked.
func (s *Store) List(ctx context.Context, account string, withDeleted bool) ([]Job, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(account)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	out := make([]Job, 0, len(m))
	for id, v := range m {
		j, err := decodeJob([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("decoding job %s of account %s: %w", id, account, err)
		}
		if withDeleted || j.State != StateDeleted {
			out = append(out, *j)
		}
	}
	ptrs := make([]*Job, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.withHealth(ctx, ptrs); err != nil {
		return nil, err
	}
	if err := s.withLastRuns(ctx, ptrs); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, k int) bool {
		if out[i].CreatedAt.Equal(out[k].CreatedAt) {
			return out[i].ID < out[k].ID
		}
		return out[i].CreatedAt.Before(out[k].CreatedAt)
	})
	return out, nil
}
