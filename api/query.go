package api

import (
	"net/http"
	"strconv"

	"github.com/brazesync/brazesync/internal/queryparam"
)

// The API's query parameters are read here, one way each: a value a
// parameter does not take is a 422 invalid naming it, never a default.

// limitParam reads ?limit=: def when it is absent, else a whole number
// from 1 to max.
func limitParam(r *http.Request, def, max int64) (int64, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > max {
		return 0, Invalid("limit", "must be a whole number from 1 to "+strconv.FormatInt(max, 10))
	}
	return n, nil
}

// boolParam reads the boolean parameter name (queryparam.Bool): false
// when it is absent.
func boolParam(r *http.Request, name string) (bool, error) {
	return queryparam.Bool(r.URL.Query(), name)
}
