package main

import (
	"context"

	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/export"
	"github.com/brazesync/brazesync/internal/jobs"
)

// Wiring of the export's preview and per-user trace.

// exportRoutes is the preview and trace API of Export Audience jobs.
func (a *app) exportRoutes() api.RouteGroup {
	return &api.ExportInspection{Accounts: a.accounts, Jobs: a.jobs, Profiles: a.profiles, Inspector: exportInspector{a.export}, JobType: export.TypeName}
}

// exportInspector adapts the engine to api.ExportInspector.
type exportInspector struct{ e *export.Engine }

func (x exportInspector) PreviewNew(ctx context.Context, j *jobs.Job) (any, error) {
	return x.e.PreviewNew(ctx, j)
}

func (x exportInspector) PreviewJob(ctx context.Context, j *jobs.Job) (any, error) {
	return x.e.PreviewJob(ctx, j)
}

func (x exportInspector) TraceUser(ctx context.Context, j *jobs.Job, profileID string) (any, error) {
	return x.e.TraceUser(ctx, j, profileID)
}
