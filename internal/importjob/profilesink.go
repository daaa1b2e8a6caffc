package importjob

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/profiles"
)

// Upserter writes records into profiles (*profiles.Store).
type Upserter interface {
	Upsert(ctx context.Context, account, stream string, records []profiles.Record) (profiles.Result, error)
}

// BulkUpserter is an Upserter that writes each file through a Bulk, which
// looks its rows up while the file is staged. ProfilesUpserter makes one
// of a *profiles.Store.
type BulkUpserter interface {
	Upserter
	NewBulk(account, stream string) Bulk
}

// Bulk writes the rows of one file (*profiles.Bulk).
type Bulk interface {
	Preread(ctx context.Context, records []profiles.Record) ([]bool, error)
	Upsert(ctx context.Context, records []profiles.Record, fresh []bool) (profiles.Result, error)
	Close() (applied int, err error)
}

// IdentitySourcer is an Upserter that knows the source columns a stream's
// mapping makes identities: a CSV file may be identified by them as well as
// by csvimport.DefaultIdentityColumns.
type IdentitySourcer interface {
	IdentitySources(ctx context.Context, account, stream string) ([]string, error)
}

// ProfilesUpserter is the BulkUpserter of a profiles store; it is an
// IdentitySourcer too.
func ProfilesUpserter(s *profiles.Store) BulkUpserter { return storeUpserter{s} }

type storeUpserter struct{ *profiles.Store }

// IdentitySources returns the sources of the identity fields of the
// stream's mapping.
func (u storeUpserter) IdentitySources(ctx context.Context, account, stream string) ([]string, error) {
	m, err := u.Mapping(ctx, account, stream)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range m.Fields {
		if f.Identity {
			out = append(out, f.Source)
		}
	}
	return out, nil
}

// identityColumns are the columns that identify a row of the job's files:
// csvimport.DefaultIdentityColumns, then the stream's other identity
// sources (Diff prefers them in that order).
func (r *Runner) identityColumns(ctx context.Context, account, stream string) ([]string, error) {
	is, ok := r.profiles.(IdentitySourcer)
	if !ok {
		return nil, nil
	}
	sources, err := is.IdentitySources(ctx, account, stream)
	if err != nil {
		return nil, fmt.Errorf("reading the identity columns of stream %q: %w", stream, err)
	}
	cols := slices.Clone(csvimport.DefaultIdentityColumns)
	for _, s := range sources {
		if !slices.ContainsFunc(cols, func(c string) bool { return csvimport.SameColumn(c, s) }) {
			cols = append(cols, s)
		}
	}
	return cols, nil
}

func (u storeUpserter) NewBulk(account, stream string) Bulk { return u.Store.NewBulk(account, stream) }

// profileSink is the csvimport.Sink of an Import CSV job: it applies the
// staged rows of each file to the profiles of the job's account through a
// stream's mapping (e.g. braze_users, which knows the columns of Braze's
// segment export); empty values count as absent and never clear a stored
// field. With a BulkUpserter it writes each file through a Bulk, which
// looks the rows up while the file is staged and writes behind Apply
// (Flush waits); else each Apply is one Upsert. Rejections name the row's
// line (and zip entry).
type profileSink struct {
	up      Upserter
	account string
	stream  string
	bulk    Bulk
}

var (
	_ csvimport.Prereader = (*profileSink)(nil)
	_ csvimport.Flusher   = (*profileSink)(nil)
	_ csvimport.Checker   = (*profileSink)(nil)
)

// RecordChecker is an Upserter that checks records as it would write
// them, writing nothing (*profiles.Store).
type RecordChecker interface {
	NewCheck(ctx context.Context, account, stream string) (profiles.RecordCheck, error)
}

// CheckRows checks each staged row as the profiles store would map and
// type it, so that a row it would refuse (a date of birth that is no date)
// is rejected while the file is staged and counts toward
// max_bad_row_share. An Upserter that cannot check accepts every row.
func (s *profileSink) CheckRows(ctx context.Context) (csvimport.RowCheck, error) {
	rc, ok := s.up.(RecordChecker)
	if !ok {
		return func(csvimport.Record) (string, string) { return "", "" }, nil
	}
	check, err := rc.NewCheck(ctx, s.account, s.stream)
	if err != nil {
		return nil, err
	}
	return func(rec csvimport.Record) (string, string) {
		err := check(profiles.Record{Columns: rec.Columns, Values: rec.Values, EventTime: rec.EventTime})
		if err == nil {
			return "", ""
		}
		var re *profiles.RecordError
		kind := ""
		if errors.As(err, &re) {
			kind = re.Kind
		}
		return rejectionCode(kind), err.Error()
	}, nil
}

// rejectionCode is the rejected-row code of a profiles rejection kind.
func rejectionCode(kind string) string {
	switch kind {
	case profiles.RejectedValue:
		return csvimport.ReasonBadValue
	case profiles.RejectedTimestamp:
		return csvimport.ReasonBadTimestamp
	case profiles.RejectedIdentity:
		return csvimport.ReasonMissingIdentity
	}
	return csvimport.ReasonSinkRejected
}

// NewFile starts a Bulk for the rows of a new staging.
func (s *profileSink) NewFile() {
	if s.bulk != nil {
		// The import flushed it (and reported its outcome), or it was
		// never written to: closing it only ends its writer.
		_, _ = s.bulk.Close()
	}
	if b, ok := s.up.(BulkUpserter); ok {
		s.bulk = b.NewBulk(s.account, s.stream)
	}
}

// Flush waits for the Bulk's writes.
func (s *profileSink) Flush(context.Context) (int, error) {
	if s.bulk == nil {
		return 0, nil
	}
	return s.bulk.Close()
}

func (s *profileSink) Preread(ctx context.Context, recs []csvimport.Record) ([]bool, error) {
	if s.bulk == nil {
		return nil, nil
	}
	return s.bulk.Preread(ctx, records(recs))
}

func (s *profileSink) Apply(ctx context.Context, recs []csvimport.Record) (int, []csvimport.Rejection, error) {
	var res profiles.Result
	var err error
	if s.bulk != nil {
		fresh := make([]bool, len(recs))
		for i, rec := range recs {
			fresh[i] = rec.Hint
		}
		res, err = s.bulk.Upsert(ctx, records(recs), fresh)
	} else {
		res, err = s.up.Upsert(ctx, s.account, s.stream, records(recs))
	}
	if err != nil {
		return 0, nil, err
	}
	var rej []csvimport.Rejection
	for _, rj := range res.Rejected {
		if rj.Index >= 0 && rj.Index < len(recs) {
			rej = append(rej, csvimport.Rejection{Line: recs[rj.Index].Line, Entry: recs[rj.Index].Entry, Code: rejectionCode(rj.Kind), Reason: rj.Reason})
		}
	}
	return res.Applied, rej, nil
}

// records are the staged rows as profile records, without copying: the
// profiles store is done with them when its call returns.
func records(recs []csvimport.Record) []profiles.Record {
	batch := make([]profiles.Record, len(recs))
	for i, rec := range recs {
		batch[i] = profiles.Record{Columns: rec.Columns, Values: rec.Values, EventTime: rec.EventTime}
	}
	return batch
}
