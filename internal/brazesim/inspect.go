package brazesim

import (
	"encoding/json"
	"io"
	"net/http"
)

// handleUser serves GET /_sim/users/{external_id}: the user's attributes.
func (s *Sim) handleUser(w http.ResponseWriter, r *http.Request) {
	attrs, ok := s.User(r.PathValue("external_id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no user with this external_id"})
		return
	}
	writeJSON(w, http.StatusOK, attrs)
}

// handleLookup serves GET /_sim/lookup?kind=K&value=V: the attributes of the
// user with any kind of identifier (see UserBy).
func (s *Sim) handleLookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	attrs, ok := s.UserBy(q.Get("kind"), q.Get("value"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no user with this identifier"})
		return
	}
	writeJSON(w, http.StatusOK, attrs)
}

// handleStats serves GET /_sim/stats.
func (s *Sim) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// handleGetFaults serves GET /_sim/faults: the faults injected now.
func (s *Sim) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

// handleSetFaults serves POST /_sim/faults with a Faults body, e.g.
// {"server_error_rate": 0.1, "latency": "20ms"}; fields left out are zero.
func (s *Sim) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err == nil {
		err = json.Unmarshal(body, &f)
	}
	if err == nil {
		err = s.SetFaults(f)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid faults: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

// handleReset serves POST /_sim/reset.
func (s *Sim) handleReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}
