package client

import (
	"context"
	"net/http"
	"time"
)

// ExportPreview is what an export run would send, worked out from current
// membership and what Braze accepted per user; nothing is sent. Every user
// the run looks at counts once: UsersToAdd + UsersToRemove +
// UsersUnchanged + UsersOmitted.Total.
type ExportPreview struct {
	// UsersToAdd are users sent and in at least one of the job's audiences.
	UsersToAdd int64 `json:"users_to_add"`
	// UsersToRemove are users sent and in none of them now (their object
	// only removes).
	UsersToRemove int64 `json:"users_to_remove"`
	// UsersUnchanged are users whose state Braze already has.
	UsersUnchanged int64 `json:"users_unchanged"`
	// UsersOmitted are users that cannot be sent, by reason.
	UsersOmitted ExportOmittedCounts `json:"users_omitted"`
	// Objects are the user objects sent.
	Objects int64 `json:"objects"`
	// Requests are the /users/track requests, each full.
	Requests int64 `json:"requests"`
	// DataPoints are the Braze data points the objects spend.
	DataPoints int64 `json:"data_points"`
	// SecondsAtRateLimit is how long the requests take at the job's pace.
	SecondsAtRateLimit float64 `json:"seconds_at_rate_limit"`
}

// ExportOmittedCounts counts omitted users by reason (OmitNoIdentifier,
// OmitProfileGone).
type ExportOmittedCounts struct {
	Total   int64            `json:"total"`
	Reasons map[string]int64 `json:"reasons"`
}

// Reasons a user is omitted from an export.
const (
	OmitNoIdentifier = "no_identifier"
	OmitProfileGone  = "profile_gone"
)

// ExportUserTrace is where one user stands in an export job.
type ExportUserTrace struct {
	ProfileID string `json:"profile_id"`
	// AudiencesIn are the job's audiences the profile is in now.
	AudiencesIn []string `json:"audiences_in"`
	// Accepted is what Braze last accepted; nil when nothing was.
	Accepted *ExportAccepted `json:"accepted"`
	// Pending is set while the user waits to be sent or is being sent.
	Pending *ExportPending `json:"pending"`
	// Next is what a send would do now: "send", "unchanged" or "omitted".
	Next string `json:"next"`
	// OmittedReason is why the user cannot be sent now; nil when it can.
	OmittedReason *ExportOmittedReason `json:"omitted_reason"`
	// LastError is Braze's message when it rejected the user's object
	// after it last accepted one.
	LastError *ExportUserError `json:"last_error"`
}

// ExportAccepted is a state Braze accepted.
type ExportAccepted struct {
	// Identifier is how the user was sent, e.g. "external_id=u1".
	Identifier string   `json:"identifier"`
	Audiences  []string `json:"audiences"`
	// At is when; nil for a state accepted by an earlier version.
	At *time.Time `json:"at"`
}

// ExportPending is a user waiting ("waiting", since Since) or held by a
// sender ("leased", until LeaseEnds).
type ExportPending struct {
	State     string     `json:"state"`
	Since     *time.Time `json:"since,omitempty"`
	LeaseEnds *time.Time `json:"lease_ends,omitempty"`
}

// ExportOmittedReason is why a user is not sent.
type ExportOmittedReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ExportUserError is Braze's message about one user's object.
type ExportUserError struct {
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// PreviewNewJob previews what a job would send when created, creating
// nothing (in is checked as CreateJob checks it). Only export jobs have a
// preview: another type fails with CodeNotExport.
func (c *Client) PreviewNewJob(ctx context.Context, account string, in JobInput) (*ExportPreview, error) {
	var out ExportPreview
	_, err := c.do(ctx, request{method: http.MethodPost, path: accountPath(account, "jobs", "preview"), body: in, out: &out})
	return ret(&out, err)
}

// PreviewJob previews what an export job's next run would send.
func (c *Client) PreviewJob(ctx context.Context, account, id string) (*ExportPreview, error) {
	var out ExportPreview
	_, err := c.do(ctx, request{method: http.MethodPost, path: accountPath(account, "jobs", id, "preview"), out: &out})
	return ret(&out, err)
}

// TraceJobUser tells where the profile with value in identity field field
// stands in an export job; an unknown profile fails with
// CodeProfileNotFound.
func (c *Client) TraceJobUser(ctx context.Context, account, id, field, value string) (*ExportUserTrace, error) {
	var out ExportUserTrace
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account, "jobs", id, "users", field, value), out: &out})
	return ret(&out, err)
}
