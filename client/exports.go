package client

import (
	"context"
	"net/http"

	"github.com/brazesync/brazesync/wire"
)

// ExportPreview is what an export run would send; nothing is sent.
type ExportPreview = wire.ExportPreview

// ExportOmittedCounts counts omitted users by reason.
type ExportOmittedCounts = wire.ExportOmittedCounts

// Reasons a user is omitted from an export.
const (
	OmitNoIdentifier = wire.OmitNoIdentifier
	OmitProfileGone  = wire.OmitProfileGone
)

// ExportUserTrace is where one user stands in an export job.
type ExportUserTrace = wire.ExportUserTrace

// ExportAccepted is a state Braze accepted.
type ExportAccepted = wire.ExportAccepted

// ExportPending is a user waiting to be sent or held by a sender.
type ExportPending = wire.ExportPending

// ExportOmittedReason is why a user is not sent.
type ExportOmittedReason = wire.ExportOmittedReason

// ExportUserError is Braze's message about one user's object.
type ExportUserError = wire.ExportUserError

// PreviewNewJob previews what a job would send when created, creating
// nothing (in is checked as CreateJob checks it). Only export jobs have a
// preview: another type fails with CodeNotExport.
func (c *Client) PreviewNewJob(ctx context.Context, account string, in JobInput) (*ExportPreview, error) {
	return call[ExportPreview](ctx, c, request{method: http.MethodPost, path: accountPath(account, "jobs", "preview"), body: in})
}

// PreviewJob previews what an export job's next run would send.
func (c *Client) PreviewJob(ctx context.Context, account, id string) (*ExportPreview, error) {
	return call[ExportPreview](ctx, c, request{method: http.MethodPost, path: accountPath(account, "jobs", id, "preview")})
}

// TraceJobUser tells where the profile with value in identity field field
// stands in an export job; an unknown profile fails with
// CodeProfileNotFound.
func (c *Client) TraceJobUser(ctx context.Context, account, id, field, value string) (*ExportUserTrace, error) {
	return call[ExportUserTrace](ctx, c, request{method: http.MethodGet, path: accountPath(account, "jobs", id, "users", field, value)})
}
