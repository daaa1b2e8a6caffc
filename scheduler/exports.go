package scheduler

import (
	"context"
	"errors"

	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/tasks"
)

// Pump feeds work to the queues a little at a time, every tick.
type Pump interface {
	Pump(ctx context.Context, enq tasks.Enqueuer) error
}

// ExportPump enqueues the export tasks that export jobs need now: a feed when
// the change log has new entries, a backfill chunk while few users wait, and
// senders when users wait long enough. Each task is unique while queued, so
// asking every second piles nothing up.
//
// Uniqueness lasts tasks.ExportStepUnique at most: a worker that dies with a task leaves
// its lock behind, and its work must resume within seconds, not when Asynq
// recovers the task minutes later. A duplicate that runs meanwhile is
// harmless: every step is safe to run twice and a sender holds its slot in
// Redis (export.Engine.Send).
type ExportPump struct {
	Engine *export.Engine
}

// Pump implements Pump.
func (p ExportPump) Pump(ctx context.Context, enq tasks.Enqueuer) error {
	work, err := p.Engine.Due(ctx)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, w := range work {
		if err := export.Enqueue(ctx, enq, w); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
