package brazesim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Messages of the simulator's error answers.
const (
	msgInvalidKey     = "Invalid API key"
	msgRateLimited    = "API rate limit exceeded"
	msgTooLarge       = "Payload too large: the request body is over the limit"
	msgMaxInput       = "Max Input Length Exceeded"
	msgNothingToTrack = "Missing attributes, events or purchases"
	msgServerError    = "Internal server error"
	msgForbidden      = "Insufficient permissions: this API key lacks users.track"
)

// Partial error types (the "type" of an "errors" item).
const (
	errNoIdentifier  = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"
	errManyIDs       = "only one of 'external_id', 'braze_id' or 'user_alias' may be given"
	errExternalID    = "'external_id' must be a non-empty string"
	errBrazeID       = "'braze_id' must be a non-empty string"
	errUserAlias     = "'user_alias' must be an object with non-empty 'alias_name' and 'alias_label'"
	errEmail         = "'email' is not a valid email address"
	errPhone         = "'phone' must be a non-empty string"
	errUpdateFlag    = "'_update_existing_only' must be a boolean"
	errNotObject     = "object must be a JSON object"
	errArrayOpFormat = "'add' and 'remove' of an array attribute must be arrays"
)

// ObjectError is one item of the "errors" array of a /users/track answer.
type ObjectError struct {
	Type       string `json:"type"`
	InputArray string `json:"input_array"`
	Index      int    `json:"index"`
}

type trackRequest struct {
	Attributes []any `json:"attributes"`
	Events     []any `json:"events"`
	Purchases  []any `json:"purchases"`
}

type trackResponse struct {
	Message             string        `json:"message"`
	AttributesProcessed *int          `json:"attributes_processed,omitempty"`
	EventsProcessed     *int          `json:"events_processed,omitempty"`
	PurchasesProcessed  *int          `json:"purchases_processed,omitempty"`
	Errors              []ObjectError `json:"errors,omitempty"`
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// setRateHeaders writes Braze's rate-limit headers, in lower case as Braze
// sends them (the map is set directly to keep the names uncanonicalised).
func setRateHeaders(w http.ResponseWriter, win window) {
	h := w.Header()
	h["x-ratelimit-limit"] = []string{strconv.Itoa(win.limit)}
	h["x-ratelimit-remaining"] = []string{strconv.Itoa(win.remaining)}
	h["x-ratelimit-reset"] = []string{strconv.FormatInt(win.reset, 10)}
}

func (s *Sim) handleTrack(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now()
	key := bearer(r)
	if key == "" || (s.keys != nil && !s.keys[key]) {
		setRateHeaders(w, window{limit: s.opts.RateLimit, remaining: s.opts.RateLimit,
			reset: now.Add(s.opts.RateWindow).Unix()})
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": msgInvalidKey})
		return
	}
	km := s.meters.get(key)
	km.requests.Add(1)
	win := km.take(now, s.opts.RateLimit, s.opts.RateWindow)
	if s.forbidden[key] {
		setRateHeaders(w, win)
		writeJSON(w, http.StatusForbidden, map[string]string{"message": msgForbidden})
		return
	}

	// Read the body before any fault: a handler that has read its body is
	// told (through its context) when the client goes away.
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	tooLarge := r.ContentLength > s.opts.MaxBody
	if !tooLarge {
		_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			tooLarge = true
		case err != nil:
			return // the client went away
		}
	}

	faults, kind, status := s.faults.draw()
	if faults.Latency > 0 && !s.pause(r, faults.Latency) {
		return
	}
	switch kind {
	case faultDrop:
		km.dropped.Add(1)
		s.drop(w)
		return
	case faultTimeout:
		km.timeouts.Add(1)
		select {
		case <-r.Context().Done():
		case <-s.closing:
			writeJSON(w, http.StatusGatewayTimeout, map[string]string{"message": "Gateway timeout"})
		}
		return
	}
	setRateHeaders(w, win)
	if !win.allowed || kind == faultRateLimit {
		km.rateLimited.Add(1)
		w.Header()["x-ratelimit-remaining"] = []string{"0"}
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": msgRateLimited})
		return
	}
	if kind == faultServerError {
		km.serverErrors.Add(1)
		s.log.Info("injected server error", "status", status)
		writeJSON(w, status, map[string]string{"message": msgServerError})
		return
	}
	if tooLarge {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": msgTooLarge})
		return
	}
	var req trackRequest
	if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Invalid JSON body: " + err.Error()})
		return
	}
	n := len(req.Attributes) + len(req.Events) + len(req.Purchases)
	if n > s.opts.MaxObjects {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": msgMaxInput})
		return
	}
	if n == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": msgNothingToTrack})
		return
	}
	resp := s.track(km, &req)
	writeJSON(w, http.StatusCreated, resp)
}

// track applies a valid request and builds the answer.
func (s *Sim) track(km *keyMeter, req *trackRequest) trackResponse {
	resp := trackResponse{Message: "success"}
	var accepted, dataPoints, notUpdated int
	if len(req.Attributes) > 0 {
		processed := 0
		for i, raw := range req.Attributes {
			dp, ok, errType := s.applyAttributes(raw)
			if errType != "" {
				resp.Errors = append(resp.Errors, ObjectError{Type: errType, InputArray: "attributes", Index: i})
				continue
			}
			accepted++
			if ok {
				processed++
				dataPoints += dp
			} else {
				notUpdated++
			}
		}
		resp.AttributesProcessed = &processed
	}
	for _, arr := range []struct {
		name    string
		objs    []any
		counter **int
	}{{"events", req.Events, &resp.EventsProcessed}, {"purchases", req.Purchases, &resp.PurchasesProcessed}} {
		if len(arr.objs) == 0 {
			continue
		}
		processed := 0
		for i, v := range arr.objs {
			obj, ok := v.(map[string]any)
			if !ok {
				resp.Errors = append(resp.Errors, ObjectError{Type: errNotObject, InputArray: arr.name, Index: i})
				continue
			}
			if _, _, errType := identify(obj); errType != "" {
				resp.Errors = append(resp.Errors, ObjectError{Type: errType, InputArray: arr.name, Index: i})
				continue
			}
			processed++
			accepted++
		}
		*arr.counter = &processed
	}
	km.objects.Add(int64(accepted))
	km.dataPoints.Add(int64(dataPoints))
	km.objectErrors.Add(int64(len(resp.Errors)))
	km.notUpdated.Add(int64(notUpdated))
	return resp
}

// pause waits d, or less if the client leaves or the Sim closes; it reports
// whether the request should go on.
func (s *Sim) pause(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return true
	case <-r.Context().Done():
		return false
	}
}

// drop closes the connection without an answer.
func (s *Sim) drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 cannot hijack: abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
