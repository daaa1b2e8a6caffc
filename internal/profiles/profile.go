// Package profiles turns incoming records into profiles: field mapping and
// typing per stream, identity resolution, merges, and the bulk upsert path
// that the collect endpoint, the profiles API and CSV imports share.
package profiles

import (
	"context"
	"errors"
	"time"
)

// Profile is one person as brazesync knows them.
type Profile struct {
	// ID is the profile's internal id, stable until it is merged away.
	ID string `json:"id"`
	// Fields holds typed values: string, float64, bool, time.Time (dates and
	// timestamps) or []string.
	Fields map[string]any `json:"fields"`
	// FieldTimes holds the event time of each field's value; the newest event
	// wins when records disagree.
	FieldTimes map[string]time.Time `json:"field_times,omitempty"`
	// Identities maps an identity field (e.g. "email", "braze_id") to its values.
	Identities map[string][]string `json:"identities"`
	FirstSeen  time.Time           `json:"first_seen"`
	LastSeen   time.Time           `json:"last_seen"`
}

// Change tells what happened to one profile in a write.
type Change struct {
	ProfileID string
	// Profile is the profile after the change; nil when it was deleted or
	// merged away.
	Profile *Profile
	// MergedInto names the surviving profile when this one was merged away.
	MergedInto string
}

// ChangeHook is told about every profile change after it is stored.
// internal/audiences implements it to re-evaluate membership.
type ChangeHook interface {
	ProfilesChanged(ctx context.Context, account string, changes []Change) error
}

// FieldsNeeder is an optional interface of a ChangeHook. When the hook says
// it reads no data field of an account's profiles, changed profiles are
// handed to it with their identities and first and last seen only
// (Profile.Fields empty), which saves reading and decoding every field after
// each write.
type FieldsNeeder interface {
	NeedsFields(ctx context.Context, account string) (bool, error)
}

// CreationHook is an optional interface of a ChangeHook. The writes it
// gives for the profiles a batch creates are committed with the batch, so
// that they are atomic with the creation (the profiles' first audience
// memberships): nobody can know a profile before that commit, so nothing
// can race with it. Those profiles are then left out of ProfilesChanged.
type CreationHook interface {
	// CreationKeys names keys of account (under its hash tag) that the batch
	// reads first and whose values must be unchanged at its commit, e.g. a
	// definitions version.
	CreationKeys(account string) []string
	// CreatedWrites returns the writes for the profiles the batch creates,
	// each a command with its arguments (name first). vals are the values
	// of CreationKeys as read ("" for a missing key). An error wrapping
	// ErrStale makes the batch start again; any other fails it. The
	// profiles are reused once it returns: it must not keep them.
	CreatedWrites(ctx context.Context, account string, vals []string, created []*Profile) ([][]any, error)
}

// CreationSettler is a CreationHook whose CreationKeys can change on first
// use (audiences creates an account's built-in definitions when it first
// loads them). A Bulk calls SettleCreationKeys before its first snapshot,
// which reads them for every batch after: else the first commit would find
// them changed and the Bulk would stop trusting its look-ups.
type CreationSettler interface {
	SettleCreationKeys(ctx context.Context, account string) error
}

// ErrStale tells a batch that what a CreationHook knows is older than what
// it read: the batch is resolved again.
var ErrStale = errors.New("stale: read again")
