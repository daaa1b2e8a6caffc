package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/tasks"
	"github.com/hibiken/asynq"
)

// Audiences handles audience re-evaluation and the hourly maintenance.
type Audiences struct {
	Service   *audiences.Service
	Accounts  *accounts.Store
	Changelog *changelog.Log
	Enqueuer  tasks.Enqueuer
	Logger    *slog.Logger
}

// Register adds the handlers to a worker server.
func (h *Audiences) Register(s *Server) {
	s.HandleFunc(tasks.TypeAudienceReevaluate, h.reevaluate)
	s.HandleFunc(tasks.TypeMaintenanceHourly, h.hourly)
}

// reevaluate runs one chunk and enqueues the next: the work is split into
// bounded tasks with visible progress (audiences.Service.Progress).
func (h *Audiences) reevaluate(ctx context.Context, t *asynq.Task) error {
	var p tasks.AudienceReevaluate
	if err := tasks.Decode(t, &p); err != nil {
		return err
	}
	next, done, _, err := h.Service.ReevaluateChunk(ctx, p.Account, p.Slug, p.Cursor)
	if errors.Is(err, audiences.ErrNotFound) || errors.Is(err, audiences.ErrNotRule) {
		return nil // deleted or turned into a list meanwhile
	}
	if err != nil {
		return fmt.Errorf("re-evaluating audience %s/%s: %w", p.Account, p.Slug, err)
	}
	if done {
		return nil
	}
	return tasks.EnqueueAudienceReevaluate(ctx, h.Enqueuer, tasks.AudienceReevaluate{Account: p.Account, Slug: p.Slug, Cursor: next})
}

// hourly re-evaluates relative-time audiences and trims the change log of
// every account.
func (h *Audiences) hourly(ctx context.Context, _ *asynq.Task) error {
	list, err := h.Accounts.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range list {
		if _, err := h.Service.ReevaluateRelative(ctx, a.ID); err != nil {
			errs = append(errs, fmt.Errorf("account %s: re-evaluating relative audiences: %w", a.ID, err))
		}
		if _, err := h.Changelog.Trim(ctx, a.ID); err != nil {
			errs = append(errs, fmt.Errorf("account %s: trimming the change log: %w", a.ID, err))
		}
	}
	return errors.Join(errs...)
}
