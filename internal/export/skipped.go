package export

import "github.com/brazesync/brazesync/internal/braze"

// CounterNotInBraze is the run counter of objects sent with
// "_update_existing_only": true that Braze accepted without updating a
// user: their user did not exist in Braze, so nothing was created.
//
// Braze's answer does not say which users it skipped, only how many
// objects it processed ("attributes_processed"), so the counter is, per
// request, the objects sent less the objects rejected into "errors" less
// attributes_processed. An answer without that count (or a 202 "queued"
// one) adds nothing. The skipped users' states are remembered as sent:
// a user created in Braze later gets the job's attributes the next time
// its membership in the job's audiences changes.
const CounterNotInBraze = "not_in_braze"

// notUpdated is how many objects of b Braze accepted without processing
// them (see CounterNotInBraze).
func notUpdated(b braze.Batch, res *braze.TrackResult) int64 {
	if res == nil || res.Queued || res.AttributesProcessed < 0 {
		return 0
	}
	rejected := 0
	for _, oe := range res.Errors {
		if oe.Index >= 0 {
			rejected++
		}
	}
	return int64(max(0, len(b.Objects)-rejected-res.AttributesProcessed))
}
