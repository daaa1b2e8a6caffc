package jobs

import (
	"context"
	"fmt"
	"time"
)

// uploadsKey marks a job that files were uploaded for since its folder was
// last listed, and that a run was enqueued for them.
func (s *Store) uploadsKey(account, id string) string {
	return s.ns.Account(account, "job", id, "uploads")
}

// uploadsTTL bounds how long a mark outlives a run that never lists the
// folder (a job paused before its run started and never resumed).
const uploadsTTL = 24 * time.Hour

// MarkUploaded records that a file was uploaded for a job. It reports
// whether the job had no upload waiting for a listing of its folder: the
// caller then enqueues a run, which every upload until that run lists the
// folder joins (TakeUploads).
func (s *Store) MarkUploaded(ctx context.Context, account, id string) (bool, error) {
	first, err := s.rdb.SetNX(ctx, s.uploadsKey(account, id), 1, uploadsTTL).Result()
	if err != nil {
		return false, fmt.Errorf("recording an upload for job %s: %w", id, err)
	}
	return first, nil
}

// UploadsWaiting reports whether files were uploaded for a job since its
// folder was last listed.
func (s *Store) UploadsWaiting(ctx context.Context, account, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.uploadsKey(account, id)).Result()
	if err != nil {
		return false, fmt.Errorf("reading the uploads of job %s: %w", id, err)
	}
	return n > 0, nil
}

// TakeUploads is called right before a run lists the job's folder: the
// listing sees every upload so far, and an upload after it asks for a new
// run (MarkUploaded reports true again).
func (s *Store) TakeUploads(ctx context.Context, account, id string) error {
	if err := s.rdb.Del(ctx, s.uploadsKey(account, id)).Err(); err != nil {
		return fmt.Errorf("taking the uploads of job %s: %w", id, err)
	}
	return nil
}

// ClearProgress forgets the progress of a job's run once the run is done
// with it, so that a job between runs shows none.
func (s *Store) ClearProgress(ctx context.Context, account, id string) error {
	if err := s.rdb.Del(ctx, s.progressKey(account, id)).Err(); err != nil {
		return fmt.Errorf("clearing the progress of job %s: %w", id, err)
	}
	return nil
}
