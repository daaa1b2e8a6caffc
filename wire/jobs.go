package wire

import "time"

// Run is one run of a job, with its counters.
type Run struct {
	ID string `json:"id"`
	// Trigger is why it ran: create, manual, resume, schedule or upload.
	Trigger   string    `json:"trigger"`
	StartedAt time.Time `json:"started_at"`
	// EndedAt is unset while the run runs.
	EndedAt *time.Time `json:"ended_at,omitempty"`
	// Outcome is running, success, partial (the run finished but some
	// records failed) or failed.
	Outcome  string           `json:"outcome"`
	Error    string           `json:"error,omitempty"`
	Counters map[string]int64 `json:"counters"`
}

// LogEntry is one entry of a job's log.
type LogEntry struct {
	Time     time.Time        `json:"time"`
	Level    string           `json:"level"`
	Code     string           `json:"code"`
	Message  string           `json:"message"`
	RunID    string           `json:"run_id,omitempty"`
	Counters map[string]int64 `json:"counters,omitempty"`
	// Health is the job's health after an entry about it (a problem or a
	// recovery); Since is when the problem began.
	Health string     `json:"health,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
}
