// Package demo makes the demo data of `brazesync dev`: an account "demo"
// with a braze authorization pointing at the Braze simulator and an export
// job that sends its audience lytics_all there, so that a first try shows
// an export without Braze.
package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/tasks"
)

// Names of the demo data.
const (
	Account            = "demo"
	AuthorizationLabel = "Braze simulator"
	JobLabel           = "Demo export"
	// APIKey is the demo authorization's key; the simulator takes any.
	APIKey = "demo-key"
)

// Demo makes the demo data; every step finds what a previous start made
// (a real Redis keeps it) instead of making it twice.
type Demo struct {
	Accounts       *accounts.Store
	Authorizations *authorizations.Store
	Audiences      *audiences.Service
	Jobs           *jobs.Store
	Types          *jobtype.Registry
	Enqueuer       tasks.Enqueuer
}

// BrazeAuthorization makes the demo account and its braze authorization
// pointing at the simulator at simURL (updating its endpoint when it
// exists), and returns the authorization's id.
func (d *Demo) BrazeAuthorization(ctx context.Context, simURL string) (string, error) {
	if _, err := d.Accounts.Create(ctx, Account, "Demo"); err != nil && !errors.Is(err, accounts.ErrExists) {
		return "", fmt.Errorf("creating the demo account: %w", err)
	}
	list, err := d.Authorizations.List(ctx, Account)
	if err != nil {
		return "", fmt.Errorf("listing the demo authorizations: %w", err)
	}
	for _, au := range list {
		if au.Label == AuthorizationLabel {
			// A new endpoint clears the key given for the old one: the
			// key goes along.
			in := authorizations.Input{Config: map[string]any{"rest_endpoint": simURL}, Secrets: map[string]string{"api_key": APIKey}}
			if _, err := d.Authorizations.Update(ctx, Account, au.ID, in); err != nil {
				return "", fmt.Errorf("pointing the demo authorization at the simulator: %w", err)
			}
			return au.ID, nil
		}
	}
	label := AuthorizationLabel
	au, _, err := d.Authorizations.Create(ctx, Account, authorizations.Input{Type: "braze", Label: &label,
		Config: map[string]any{"rest_endpoint": simURL}, Secrets: map[string]string{"api_key": APIKey}})
	if err != nil {
		return "", fmt.Errorf("creating the demo authorization: %w", err)
	}
	return au.ID, nil
}

// ExportJob makes the demo export job (audience lytics_all through
// authorization authID, flushing each user at once) unless it exists, and
// starts its first run as the API would; it returns the job's id.
func (d *Demo) ExportJob(ctx context.Context, authID string) (string, error) {
	if _, err := d.Audiences.EnsureDefaults(ctx, Account); err != nil {
		return "", fmt.Errorf("making the demo audiences: %w", err)
	}
	list, err := d.Jobs.List(ctx, Account, false)
	if err != nil {
		return "", fmt.Errorf("listing the demo jobs: %w", err)
	}
	for _, j := range list {
		if j.Label == JobLabel {
			return j.ID, nil
		}
	}
	label := JobLabel
	j, err := d.Jobs.Create(ctx, Account, jobs.Input{Type: export.TypeName, Label: &label, AuthorizationID: &authID,
		Config: map[string]any{"audiences": []any{"lytics_all"}, "existing_users": true, "flush_users": 1.0}})
	if err != nil {
		return "", fmt.Errorf("creating the demo export job: %w", err)
	}
	if err := d.Types.Changed(ctx, nil, j); err != nil {
		return "", fmt.Errorf("setting up the demo export job: %w", err)
	}
	if err := tasks.EnqueueRun(ctx, d.Enqueuer, tasks.JobRun{Account: Account, JobID: j.ID, Trigger: "create"}, d.Types.Queue(j.Type)); err != nil {
		return "", err
	}
	return j.ID, nil
}
