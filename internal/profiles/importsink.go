package profiles

import (
	"context"

	"github.com/brazesync/brazesync/internal/csvimport"
)

// ImportSink applies the rows of a CSV import to the profiles of one account
// through a stream's mapping (e.g. braze_users, which knows the Braze segment
// export's columns). It implements csvimport.Sink. Empty values count as
// absent: they never clear a stored field.
type ImportSink struct {
	Store   *Store
	Account string
	Stream  string
}

var _ csvimport.Sink = ImportSink{}

// Apply upserts rows; rejections name the row's line (and zip entry).
func (s ImportSink) Apply(ctx context.Context, rows []csvimport.Record) (int, []csvimport.Rejection, error) {
	recs := make([]Record, len(rows))
	for i, r := range rows {
		recs[i] = Record{Columns: r.Columns, Values: r.Values, EventTime: r.EventTime}
	}
	res, err := s.Store.Upsert(ctx, s.Account, s.Stream, recs)
	var rej []csvimport.Rejection
	for _, r := range res.Rejected {
		row := rows[r.Index]
		rej = append(rej, csvimport.Rejection{Line: row.Line, Entry: row.Entry, Reason: r.Reason})
	}
	return res.Applied, rej, err
}
