// Package jobtype is the registry of job types. A job type is one value,
// Type, registered once: its name, its queue, the check of its config, the
// authorization types it accepts, its run entry point and its optional
// hooks (a scheduler pump, an upload trigger, a change hook, task handlers
// of its own). The API, the workers and the scheduler iterate over the
// Registry and name no type.
//
// A new job type is a package that returns its Type (see
// export.Engine.JobType and importjob.Runner.JobType) and one line in the
// registry's construction in cmd/brazesync.
package jobtype

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// Runner runs one run of a job. It returns the run's outcome
// (jobs.OutcomeSuccess, jobs.OutcomePartial, or jobs.OutcomeRunning when
// the type finishes the run itself later) or an error: a *fault.WaitError
// to come back later, a *fault.PermanentError or *fault.ValidationError to
// fail the job, any other error to retry with backoff.
type Runner interface {
	RunJob(ctx context.Context, job *jobs.Job, run *jobs.Run) (outcome string, err error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, job *jobs.Job, run *jobs.Run) (string, error)

// RunJob calls f.
func (f RunnerFunc) RunJob(ctx context.Context, job *jobs.Job, run *jobs.Run) (string, error) {
	return f(ctx, job, run)
}

// Type is one kind of job.
type Type struct {
	// Name is the job's "type" in the API (snake_case, stable).
	Name string
	// Queue is the Asynq queue of its runs: one of tasks.QueueWeights.
	Queue string
	// AuthorizationTypes are the authorization types a job of this type may
	// name; empty when it needs none.
	AuthorizationTypes []string
	// Validate checks a job's config and may normalise it (defaults, a
	// schedule implied by the config). Errors are *fault.ValidationError
	// naming the config key. Nil accepts any config.
	Validate func(ctx context.Context, j *jobs.Job) error
	// Run is the run entry point: the worker calls it for every run
	// (tasks.TypeJobRun) of a job of this type.
	Run Runner

	// OwnsHealth says the type reports its jobs' successes itself (an
	// export's deliveries happen after its run returns); otherwise a
	// successful run makes the job's health ok.
	OwnsHealth bool
	// KeepsRunning says a job without a schedule stays running after a run
	// (an export keeps delivering changes until paused); otherwise it is
	// completed.
	KeepsRunning bool

	// Tasks are task handlers of the type's own tasks, by task type (their
	// names and payloads live in package tasks).
	Tasks map[string]asynq.Handler
	// Pump, when set, is called on every scheduler tick to enqueue the work
	// the type's jobs need now.
	Pump func(ctx context.Context, enq tasks.Enqueuer) error
	// Changed, when set, is told after a job of this type is created,
	// changed, paused, resumed, run or deleted through the API.
	Changed func(ctx context.Context, before, after *jobs.Job) error
	// Admit, when set, is asked before a run of a job of this type is
	// recorded, with the run's trigger: false drops the task without a
	// run (an upload's run whose files another run has listed); a
	// *fault.WaitError comes back later, still without a run (another run
	// of the job is busy), so that no run waits with nothing in it.
	Admit func(ctx context.Context, j *jobs.Job, trigger string) (bool, error)
	// TakesUpload, when set, says whether a job of this type runs when a
	// file is uploaded at path (an SFTP path such as "/exports/users.csv")
	// to the managed SFTP server under the job's authorization, whose
	// config folder is authFolder. Uploads coalesce (Uploads.Uploaded): a
	// run of such a type calls jobs.Store.TakeUploads right before it
	// looks for the files, and until then every upload joins that run.
	TakesUpload func(j *jobs.Job, authFolder, path string) bool
}

// Job is the part of t that the job store validates jobs with.
func (t Type) Job() jobs.Type {
	return jobs.Type{Name: t.Name, AuthorizationTypes: t.AuthorizationTypes, Validate: t.Validate}
}

func (t Type) check() error {
	switch {
	case t.Name == "":
		return errors.New("a job type needs a name")
	case t.Run == nil:
		return fmt.Errorf("job type %s has no run entry point", t.Name)
	case tasks.QueueWeights[t.Queue] == 0:
		return fmt.Errorf("job type %s: queue %q is not one the workers serve (%v)", t.Name, t.Queue, slices.Sorted(maps.Keys(tasks.QueueWeights)))
	}
	for name, h := range t.Tasks {
		if name == "" || h == nil || name == tasks.TypeJobRun {
			return fmt.Errorf("job type %s: task %q needs a name of its own and a handler", t.Name, name)
		}
	}
	return nil
}

// Registry holds the job types of a process. Build it once with
// NewRegistry; it is read-only afterwards, so safe for concurrent use. A
// nil *Registry has no types.
type Registry struct {
	types  []Type
	byName map[string]int
}

// NewRegistry registers types in order. A type without a name, a run
// entry point or a served queue, or one whose name or task types another
// type already has, is an error.
func NewRegistry(types ...Type) (*Registry, error) {
	r := &Registry{byName: map[string]int{}}
	taskOwner := map[string]string{}
	for _, t := range types {
		if err := t.check(); err != nil {
			return nil, err
		}
		if _, dup := r.byName[t.Name]; dup {
			return nil, fmt.Errorf("job type %s is registered twice", t.Name)
		}
		for name := range t.Tasks {
			if other, dup := taskOwner[name]; dup {
				return nil, fmt.Errorf("task %s of job type %s is also a task of %s", name, t.Name, other)
			}
			taskOwner[name] = t.Name
		}
		r.byName[t.Name] = len(r.types)
		r.types = append(r.types, t)
	}
	return r, nil
}

// Lookup returns the type called name.
func (r *Registry) Lookup(name string) (Type, bool) {
	if r == nil {
		return Type{}, false
	}
	i, ok := r.byName[name]
	if !ok {
		return Type{}, false
	}
	return r.types[i], true
}

// Types returns the types in registration order.
func (r *Registry) Types() []Type {
	if r == nil {
		return nil
	}
	return slices.Clone(r.types)
}

// Names returns the type names, sorted.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(r.byName))
}

// Queue returns the queue of the runs of jobs of the type called name;
// tasks.QueueDefault for a type the registry does not hold.
func (r *Registry) Queue(name string) string {
	if t, ok := r.Lookup(name); ok {
		return t.Queue
	}
	return tasks.QueueDefault
}

// JobTypes returns what the job store validates jobs with, one per type.
func (r *Registry) JobTypes() []jobs.Type {
	out := make([]jobs.Type, 0, len(r.Types()))
	for _, t := range r.Types() {
		out = append(out, t.Job())
	}
	return out
}

// Changed tells the type of after (when it has a change hook) that a job
// was created (before is nil), changed, paused, resumed, run or deleted.
func (r *Registry) Changed(ctx context.Context, before, after *jobs.Job) error {
	t, ok := r.Lookup(after.Type)
	if !ok || t.Changed == nil {
		return nil
	}
	return t.Changed(ctx, before, after)
}

// Pump calls the pump of every type that has one, and returns their
// errors joined.
func (r *Registry) Pump(ctx context.Context, enq tasks.Enqueuer) error {
	var errs []error
	for _, t := range r.Types() {
		if t.Pump == nil {
			continue
		}
		if err := t.Pump(ctx, enq); err != nil {
			errs = append(errs, fmt.Errorf("pump of %s jobs: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}
