package changelog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
)

// RetentionDefault is how long Trim keeps entries that a consumer has not
// read yet.
const RetentionDefault = 7 * 24 * time.Hour

// Op says whether a profile entered or exited an audience.
type Op string

// The two kinds of entry.
const (
	OpEnter Op = "enter"
	OpExit  Op = "exit"
)

// Entry is one membership change.
type Entry struct {
	// ID is the stream ID: entries of one account are totally ordered by it,
	// and a consumer's cursor is the ID of the last entry it processed.
	ID        string
	Account   string
	Audience  string
	ProfileID string
	Op        Op
	// Time is when the change was evaluated (the writer's clock).
	Time time.Time
}

// Sentinel errors callers branch on.
var (
	// ErrNoConsumer: the named consumer was never created (or was deleted).
	ErrNoConsumer = errors.New("changelog: no such consumer")
	// ErrGap: entries after the consumer's cursor were trimmed before it read
	// them (it was slower than the retention). The consumer must rebuild its
	// state: Reset, then backfill current membership.
	ErrGap = errors.New("changelog: entries after the cursor were trimmed")
)

// Start says where a new consumer begins reading.
type Start string

const (
	// StartNow reads only changes made after the consumer is created. It is
	// also the start for a consumer that backfills current membership first
	// (see Backfill): the position is taken when the consumer is created.
	StartNow Start = "now"
	// StartOldest reads every entry still in the log.
	StartOldest Start = "oldest"
)

// Options configure a Log. The zero value is valid.
type Options struct {
	// Retention: Trim removes unread entries older than this. Default
	// RetentionDefault.
	Retention time.Duration
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
}

// Log is the per-account change log of audience membership.
type Log struct {
	rdb       redis.UniversalClient
	ns        keyspace.Namespace
	retention time.Duration
	now       func() time.Time
}

// New returns a Log on rdb under namespace ns.
func New(rdb redis.UniversalClient, ns keyspace.Namespace, opts Options) *Log {
	if opts.Retention <= 0 {
		opts.Retention = RetentionDefault
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Log{rdb: rdb, ns: ns, retention: opts.Retention, now: opts.Clock}
}

// AppendTo queues XADD commands for entries on pipe, so that a caller can
// write the log in the same MULTI as the change it records. Entry IDs are
// assigned by Redis; e.ID is ignored.
func (l *Log) AppendTo(ctx context.Context, pipe redis.Pipeliner, acct string, entries ...Entry) {
	key := StreamKey(l.ns, acct)
	for _, e := range entries {
		t := e.Time
		if t.IsZero() {
			t = l.now()
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{
			FieldAudience, e.Audience, FieldProfile, e.ProfileID, FieldOp, string(e.Op),
			FieldTime, strconv.FormatInt(t.UnixMilli(), 10),
		}})
	}
}

// Append adds entries to the account's log in one MULTI.
func (l *Log) Append(ctx context.Context, acct string, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	_, err := l.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		l.AppendTo(ctx, pipe, acct, entries...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending %d change log entries for account %q: %w", len(entries), acct, err)
	}
	return nil
}

// Len returns the number of entries in the account's log.
func (l *Log) Len(ctx context.Context, acct string) (int64, error) {
	n, err := l.rdb.XLen(ctx, StreamKey(l.ns, acct)).Result()
	if err != nil {
		return 0, fmt.Errorf("measuring change log of account %q: %w", acct, err)
	}
	return n, nil
}

// Range returns the entries of up to count stream entries with IDs strictly
// after the ID after ("" or "0-0" for the beginning), in order. It does not
// involve consumers.
func (l *Log) Range(ctx context.Context, acct, after string, count int) ([]Entry, error) {
	if after == "" {
		after = "0-0"
	}
	if count <= 0 {
		count = 100
	}
	msgs, err := l.rdb.XRangeN(ctx, StreamKey(l.ns, acct), "("+after, "+", int64(count)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading change log of account %q after %q: %w", acct, after, err)
	}
	out := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		out = appendEntries(out, acct, m)
	}
	return out, nil
}

// appendEntries appends the entries of one stream entry: one per profile of
// its comma-separated FieldProfile and audience of its comma-separated
// FieldAudience, profile by profile, all with the stream entry's ID.
func appendEntries(out []Entry, acct string, m redis.XMessage) []Entry {
	e := parseEntry(acct, m)
	auds, profs := e.Audience, e.ProfileID
	for p := range strings.SplitSeq(profs, ",") {
		for a := range strings.SplitSeq(auds, ",") {
			e.ProfileID, e.Audience = p, a
			out = append(out, e)
		}
	}
	return out
}

func parseEntry(acct string, m redis.XMessage) Entry {
	e := Entry{ID: m.ID, Account: acct}
	e.Audience, _ = m.Values[FieldAudience].(string)
	e.ProfileID, _ = m.Values[FieldProfile].(string)
	op, _ := m.Values[FieldOp].(string)
	e.Op = Op(op)
	if ts, ok := m.Values[FieldTime].(string); ok {
		if ms, err := strconv.ParseInt(ts, 10, 64); err == nil {
			e.Time = time.UnixMilli(ms).UTC()
		}
	}
	return e
}

// Trim removes entries that every consumer has committed, and entries older
// than the retention whether read or not, whichever reaches further. With no
// consumer only the retention applies. It returns the number of entries
// removed. A consumer that loses unread entries this way gets ErrGap from
// Read.
func (l *Log) Trim(ctx context.Context, acct string) (int64, error) {
	bound := l.now().Add(-l.retention).UnixMilli()
	if bound < 0 {
		bound = 0
	}
	keys := []string{StreamKey(l.ns, acct), consumersKey(l.ns, acct), metaKey(l.ns, acct)}
	n, err := trimScript.Run(ctx, l.rdb, keys, strconv.FormatInt(bound, 10)+"-0").Int64()
	if err != nil {
		return 0, fmt.Errorf("trimming change log of account %q: %w", acct, err)
	}
	return n, nil
}

// idLess compares two stream IDs.
func idLess(a, b string) bool {
	am, as := idParts(a)
	bm, bs := idParts(b)
	if am != bm {
		return am < bm
	}
	return as < bs
}

func idParts(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}
