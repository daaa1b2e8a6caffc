package ingest

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/brazesync/brazesync/internal/httpbody"
	"github.com/brazesync/brazesync/internal/queryparam"
)

// ServeCollect answers a collect request for account and stream, once the
// caller has authenticated it: 200 with Lytics-style counts, 400 for a body
// that cannot be read (nothing is written), 413 above MaxBodyBytes, 429 with
// Retry-After when the account's rate is exceeded, 503 when the request
// could not be made durable. ?dryrun=true checks without writing; a ?dryrun
// value other than true or false (1 or 0) is 400, and nothing is written.
func (c *Collector) ServeCollect(w http.ResponseWriter, r *http.Request, account, stream string) {
	var dryRun bool
	if r.URL.RawQuery != "" {
		var err error
		if dryRun, err = queryparam.Bool(r.URL.Query(), "dryrun"); err != nil {
			writeResponse(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	body, err := httpbody.Read(w, r, c.opt.MaxBodyBytes)
	switch {
	case errors.Is(err, httpbody.ErrTooLarge):
		writeResponse(w, http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(c.opt.MaxBodyBytes, 10)+" bytes")
		return
	case err != nil:
		writeResponse(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return
	}
	resp, err := c.Collect(r.Context(), account, stream, r.Header.Get("Content-Type"), body, dryRun)
	if err != nil {
		c.writeError(w, account, err)
		return
	}
	if d := resp.Data; d != nil && len(d.Rejected) == 0 && !d.DryRun {
		// The usual answer, without encoding/json's reflection.
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(appendSuccess(make([]byte, 0, 96), d))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (c *Collector) writeError(w http.ResponseWriter, account string, err error) {
	var (
		bad     *BadBodyError
		limited *RateLimitedError
	)
	switch {
	case errors.As(err, &bad), errors.Is(err, ErrBadStream):
		writeResponse(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrBodyTooLarge):
		writeResponse(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(limited.RetryAfter, time.Second).Seconds()))))
		writeResponse(w, http.StatusTooManyRequests, err.Error())
	default:
		c.log.Error("collect request not stored", "account", account, "err", err)
		w.Header().Set("Retry-After", "5")
		writeResponse(w, http.StatusServiceUnavailable, "the event store is unavailable; retry later")
	}
}

func writeResponse(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Response{Status: status, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// appendSuccess appends what writeJSON writes for a 200 answer with data d
// that lists no rejections and is not a dry run.
func appendSuccess(b []byte, d *ResponseData) []byte {
	b = append(b, `{"status":200,"message":"success","data":{"message_count":`...)
	b = strconv.AppendInt(b, int64(d.MessageCount), 10)
	b = append(b, `,"rejected_count":`...)
	b = strconv.AppendInt(b, int64(d.RejectedCount), 10)
	return append(b, "}}\n"...)
}
