package wire

import "time"

// ExportPreview is what an export job's next run (or the first run of a
// job not created yet) would send, worked out from current membership and
// the state Braze accepted for each user, without sending anything. Every
// user the run would look at counts once: UsersToAdd + UsersToRemove +
// UsersUnchanged + UsersOmitted.Total.
type ExportPreview struct {
	// UsersToAdd are users whose object adds audiences: they are in at
	// least one of the job's audiences.
	UsersToAdd int64 `json:"users_to_add"`
	// UsersToRemove are users whose object only removes audiences: they
	// are in none of the job's audiences now (or their profile is gone).
	UsersToRemove int64 `json:"users_to_remove"`
	// UsersUnchanged are users whose state Braze already has: not sent.
	UsersUnchanged int64 `json:"users_unchanged"`
	// UsersOmitted are users that cannot be sent, by reason.
	UsersOmitted ExportOmittedCounts `json:"users_omitted"`
	// Objects is the number of user objects sent (UsersToAdd +
	// UsersToRemove).
	Objects int64 `json:"objects"`
	// Requests is the number of /users/track requests when each is full
	// (the authorization's batch_size objects).
	Requests int64 `json:"requests"`
	// DataPoints is the Braze data points the objects spend.
	DataPoints int64 `json:"data_points"`
	// SecondsAtRateLimit is how long the requests take at the rate the job
	// sends within its authorization's rate limit, in seconds to the
	// millisecond.
	SecondsAtRateLimit float64 `json:"seconds_at_rate_limit"`
}

// ExportOmittedCounts counts omitted users by reason (OmitNoIdentifier,
// OmitProfileGone).
type ExportOmittedCounts struct {
	Total   int64            `json:"total"`
	Reasons map[string]int64 `json:"reasons"`
}

// Reasons a user is omitted from an export: the preview counts them and
// the per-user trace shows them.
const (
	OmitNoIdentifier = "no_identifier"
	OmitProfileGone  = "profile_gone"
)

// ExportUserTrace is where one user stands in an export job.
type ExportUserTrace struct {
	ProfileID string `json:"profile_id"`
	// AudiencesIn are the job's audiences the profile is in now.
	AudiencesIn []string `json:"audiences_in"`
	// Accepted is what Braze last accepted for the user; nil when nothing
	// was (or the user was last sent with every audience removed).
	Accepted *ExportAccepted `json:"accepted"`
	// Pending says the user waits to be sent, or is being sent; nil when
	// neither.
	Pending *ExportPending `json:"pending"`
	// Next is what a send would do with the user now: "send",
	// "unchanged" or "omitted".
	Next string `json:"next"`
	// OmittedReason is why the user cannot be sent now; nil when it can.
	OmittedReason *ExportOmittedReason `json:"omitted_reason"`
	// LastError is Braze's message when it rejected the user's object
	// after it last accepted one; nil when none.
	LastError *ExportUserError `json:"last_error"`
}

// ExportAccepted is a state Braze accepted.
type ExportAccepted struct {
	// Identifier is how the user was sent, e.g. "external_id=u1".
	Identifier string `json:"identifier"`
	// Audiences are the job's audiences Braze has the user in.
	Audiences []string `json:"audiences"`
	// At is when Braze accepted it; nil for a state accepted before
	// brazesync kept the time.
	At *time.Time `json:"at"`
}

// ExportPending is a user waiting to be sent ("waiting", since Since) or
// leased by a sender ("leased", until LeaseEnds).
type ExportPending struct {
	State     string     `json:"state"`
	Since     *time.Time `json:"since,omitempty"`
	LeaseEnds *time.Time `json:"lease_ends,omitempty"`
}

// ExportOmittedReason is why a user is not sent: a code (OmitNoIdentifier,
// OmitProfileGone) and a message.
type ExportOmittedReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ExportUserError is Braze's message about one user's object.
type ExportUserError struct {
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}
