package export

import (
	"context"
	"fmt"

	"github.com/brazesync/brazesync/tasks"
)

// stepTypes are the task types of the kinds of work.
var stepTypes = map[Kind]string{
	WorkFeed:     tasks.TypeExportFeed,
	WorkBackfill: tasks.TypeExportBackfill,
	WorkSend:     tasks.TypeExportSend,
}

// Enqueue enqueues the task of one piece of work; a copy already queued or
// running is not an error (tasks.ExportStepUnique).
func Enqueue(ctx context.Context, enq tasks.Enqueuer, w Work) error {
	typ, ok := stepTypes[w.Kind]
	if !ok {
		return fmt.Errorf("export work of kind %d has no task type", w.Kind)
	}
	return tasks.EnqueueExportStep(ctx, enq, typ, tasks.ExportStep{Account: w.Account, JobID: w.JobID, Slot: w.Slot})
}
