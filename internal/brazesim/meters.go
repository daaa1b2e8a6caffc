package brazesim

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// KeyID is how Stats names an API key: "key_" and the first 12 hex digits of
// its SHA-256. The simulator never shows a key itself, in case a real one is
// pointed at it.
func KeyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "key_" + hex.EncodeToString(sum[:6])
}

// Counts are the simulator's counters, in total or for one key.
type Counts struct {
	// Requests is every /users/track request with an accepted key,
	// whatever its answer.
	Requests int64 `json:"requests"`
	// RateLimited is the number of 429 answers (real or injected).
	RateLimited int64 `json:"rate_limited"`
	// DataPoints is one per attribute set per accepted attributes object,
	// identifier fields excluded.
	DataPoints int64 `json:"data_points"`
	// Objects is the number of accepted objects (attributes, events and
	// purchases) in successful requests.
	Objects int64 `json:"objects"`
	// ObjectErrors is the number of objects rejected into "errors".
	ObjectErrors int64 `json:"object_errors"`
	// NotUpdated is the number of accepted attributes objects that changed
	// nothing because their user does not exist and the object said
	// "_update_existing_only": true (Braze answers success and leaves them
	// out of attributes_processed).
	NotUpdated int64 `json:"not_updated"`
	// ServerErrors is the number of 5xx answers (injected).
	ServerErrors int64 `json:"server_errors"`
	// Timeouts is the number of requests held open until the client left.
	Timeouts int64 `json:"timeouts"`
	// Dropped is the number of connections closed without an answer.
	Dropped int64 `json:"dropped"`
}

type counters struct {
	requests, rateLimited, dataPoints, objects, objectErrors, notUpdated, serverErrors, timeouts, dropped atomic.Int64
}

func (c *counters) snapshot() Counts {
	return Counts{
		Requests:     c.requests.Load(),
		RateLimited:  c.rateLimited.Load(),
		DataPoints:   c.dataPoints.Load(),
		Objects:      c.objects.Load(),
		ObjectErrors: c.objectErrors.Load(),
		NotUpdated:   c.notUpdated.Load(),
		ServerErrors: c.serverErrors.Load(),
		Timeouts:     c.timeouts.Load(),
		Dropped:      c.dropped.Load(),
	}
}

func (c Counts) add(o Counts) Counts {
	c.Requests += o.Requests
	c.RateLimited += o.RateLimited
	c.DataPoints += o.DataPoints
	c.Objects += o.Objects
	c.ObjectErrors += o.ObjectErrors
	c.NotUpdated += o.NotUpdated
	c.ServerErrors += o.ServerErrors
	c.Timeouts += o.Timeouts
	c.Dropped += o.Dropped
	return c
}

// keyMeter is the state of one API key: its fixed rate-limit window and its
// counters.
type keyMeter struct {
	counters

	mu          sync.Mutex
	windowStart int64 // Unix ns of the current window's start
	used        int
}

// window is the rate-limit verdict for one request.
type window struct {
	limit     int
	remaining int
	reset     int64 // Unix seconds, rounded up
	allowed   bool
}

// take counts one request in the fixed window that contains now.
func (k *keyMeter) take(now time.Time, limit int, length time.Duration) window {
	start := now.UnixNano() / int64(length) * int64(length)
	k.mu.Lock()
	if start != k.windowStart {
		k.windowStart, k.used = start, 0
	}
	k.used++
	used := k.used
	k.mu.Unlock()
	end := start + int64(length)
	return window{
		limit:     limit,
		remaining: max(0, limit-used),
		reset:     (end + int64(time.Second) - 1) / int64(time.Second),
		allowed:   used <= limit,
	}
}

// meters holds every key's meter.
type meters struct {
	mu   sync.RWMutex
	keys map[string]*keyMeter // by API key
}

func newMeters() *meters { return &meters{keys: map[string]*keyMeter{}} }

func (m *meters) get(key string) *keyMeter {
	m.mu.RLock()
	k := m.keys[key]
	m.mu.RUnlock()
	if k != nil {
		return k
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if k = m.keys[key]; k == nil {
		k = &keyMeter{}
		m.keys[key] = k
	}
	return k
}

func (m *meters) reset() {
	m.mu.Lock()
	m.keys = map[string]*keyMeter{}
	m.mu.Unlock()
}

// Stats is a snapshot of the simulator's counters.
type Stats struct {
	// Counts are the totals over every key.
	Counts
	// Users is the number of users stored.
	Users int `json:"users"`
	// Keys are the counts per API key, named by KeyID.
	Keys map[string]Counts `json:"keys"`
}

// Stats returns the current counters.
func (s *Sim) Stats() Stats {
	st := Stats{Keys: map[string]Counts{}, Users: s.users.len()}
	s.meters.mu.RLock()
	defer s.meters.mu.RUnlock()
	for key, k := range s.meters.keys {
		c := k.snapshot()
		st.Keys[KeyID(key)] = c
		st.Counts = st.add(c)
	}
	return st
}
