package client

import "time"

// Audience kinds.
const (
	AudienceKindRule = "rule"
	AudienceKindList = "list"
)

// Rule is an audience rule: And, Or or Not of rules, or a condition on a
// field (Field, Op, Value; Days for within_last and before_last).
type Rule struct {
	And   []Rule  `json:"and,omitempty"`
	Or    []Rule  `json:"or,omitempty"`
	Not   *Rule   `json:"not,omitempty"`
	Field string  `json:"field,omitempty"`
	Op    string  `json:"op,omitempty"`
	Value any     `json:"value,omitempty"`
	Days  float64 `json:"days,omitempty"`
}

// AudienceInput creates an audience.
type AudienceInput struct {
	Slug        string `json:"slug"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Kind        string `json:"kind"`
	Rule        *Rule  `json:"rule,omitempty"`
}

// AudiencePatch changes an audience: only what is set changes.
type AudiencePatch struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	Rule        *Rule   `json:"rule,omitempty"`
}

// Audience is an audience with its size and re-evaluation.
type Audience struct {
	Slug         string        `json:"slug"`
	Name         string        `json:"name"`
	Description  string        `json:"description,omitempty"`
	Kind         string        `json:"kind"`
	Rule         *Rule         `json:"rule,omitempty"`
	Builtin      bool          `json:"builtin,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
	Size         int64         `json:"size"`
	Reevaluation *Reevaluation `json:"reevaluation,omitempty"`
}

// Reevaluation is the latest re-evaluation of a rule audience.
type Reevaluation struct {
	// State is pending, running or done.
	State     string     `json:"state"`
	Scanned   int64      `json:"scanned"`
	Entered   int64      `json:"entered"`
	Exited    int64      `json:"exited"`
	Cursor    string     `json:"cursor,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// Identity names a profile, e.g. Identity{"email": "ada@example.com"}.
type Identity map[string]string

// MembersInput adds and removes members of a list audience.
type MembersInput struct {
	Add    []Identity `json:"add,omitempty"`
	Remove []Identity `json:"remove,omitempty"`
}

// MemberCounts counts a members change.
type MemberCounts struct {
	Added     int64       `json:"added"`
	Removed   int64       `json:"removed"`
	Unchanged int64       `json:"unchanged"`
	Created   int64       `json:"created"`
	NotFound  int64       `json:"not_found"`
	Rejected  []Rejection `json:"rejected,omitempty"`
}

// MemberPage is one page of an audience's member profile ids.
type MemberPage struct {
	Data []string `json:"data"`
	// NextCursor is the cursor of the next page, "" on the last one.
	NextCursor string `json:"next_cursor"`
	Size       int64  `json:"size"`
}

// MembersOptions page through the members: Cursor is the previous page's
// NextCursor, Limit 0 the server's default (100).
type MembersOptions struct {
	Cursor string
	Limit  int
}

// Rejection is a record refused, by its place in the request (from 0).
type Rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// Record is one record of a stream, as the collect endpoint takes it.
type Record map[string]any

// UpsertResult counts a profile upsert.
type UpsertResult struct {
	Applied       int         `json:"applied"`
	RejectedCount int         `json:"rejected_count"`
	Rejected      []Rejection `json:"rejected,omitempty"`
}

// Profile is a profile with its identities and audiences.
type Profile struct {
	ID         string               `json:"id"`
	Fields     map[string]any       `json:"fields"`
	Identities map[string][]string  `json:"identities"`
	Audiences  []string             `json:"audiences"`
	FirstSeen  time.Time            `json:"first_seen"`
	LastSeen   time.Time            `json:"last_seen"`
	FieldTimes map[string]time.Time `json:"field_times,omitempty"`
}

// DeletedProfile answers DeleteProfile.
type DeletedProfile struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// FieldMapping maps a source field of a stream to a profile field.
type FieldMapping struct {
	Source string `json:"source"`
	Field  string `json:"field"`
	// Type is string, number, boolean, date or timestamp.
	Type     string `json:"type,omitempty"`
	Identity bool   `json:"identity,omitempty"`
}

// MappingInput replaces a stream's mapping.
type MappingInput struct {
	TimestampField string         `json:"timestamp_field,omitempty"`
	Fields         []FieldMapping `json:"fields"`
}

// Mapping is a stream's mapping; Builtin when none is stored.
type Mapping struct {
	Stream         string         `json:"stream"`
	Fields         []FieldMapping `json:"fields"`
	TimestampField string         `json:"timestamp_field,omitempty"`
	Builtin        bool           `json:"builtin"`
}

// StreamRejection is a record a stream rejected.
type StreamRejection struct {
	Time   time.Time `json:"time"`
	Index  int       `json:"index"`
	Reason string    `json:"reason"`
}

// CollectOptions change a collect request: DryRun checks and counts
// without writing.
type CollectOptions struct {
	DryRun bool
}

// CollectResult is the collect endpoint's Lytics-style answer.
type CollectResult struct {
	Status  int          `json:"status"`
	Message string       `json:"message"`
	Data    *CollectData `json:"data,omitempty"`
}

// CollectData counts the records of a collect request.
type CollectData struct {
	MessageCount  int         `json:"message_count"`
	RejectedCount int         `json:"rejected_count"`
	Rejected      []Rejection `json:"rejected,omitempty"`
	DryRun        bool        `json:"dryrun,omitempty"`
}
