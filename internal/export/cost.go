package export

import "github.com/brazesync/brazesync/internal/braze"

// dataPoints is what sending one user's object costs in Braze's terms: one
// data point per attribute it sets, the identifier (and the
// _update_existing_only flag) excluded, as Braze bills and the simulator
// counts. A send counts its run's data points with it and a preview
// predicts them with it, so an object of another shape changes both.
func dataPoints(o *braze.Object) int {
	n := len(o.Fields)
	if len(o.Add) > 0 || len(o.Remove) > 0 {
		n++ // the array attribute
	}
	return n
}
