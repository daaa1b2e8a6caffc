package client

import (
	"context"
	"net/http"
	"net/url"
)

// CreateJob creates a job; without a schedule it runs at once.
func (c *Client) CreateJob(ctx context.Context, account string, in JobInput) (*Job, error) {
	return call[Job](ctx, c, request{method: http.MethodPost, path: accountPath(account, "jobs"), body: in})
}

// ListJobs lists the account's jobs, oldest first.
func (c *Client) ListJobs(ctx context.Context, account string, opts *ListJobsOptions) ([]Job, error) {
	return listOf[Job](ctx, c, request{method: http.MethodGet, path: accountPath(account, "jobs"), query: boolQuery("deleted", opts != nil && opts.Deleted)})
}

// GetJob returns a job with its newest run, progress and health.
func (c *Client) GetJob(ctx context.Context, account, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodGet, account, id, "", nil)
}

// UpdateJob changes a job.
func (c *Client) UpdateJob(ctx context.Context, account, id string, in JobPatch) (*Job, error) {
	return c.jobCall(ctx, http.MethodPatch, account, id, "", in)
}

// DeleteJob deletes a job for good; it answers the job in state deleted.
func (c *Client) DeleteJob(ctx context.Context, account, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodDelete, account, id, "", nil)
}

// PauseJob pauses a job; pausing a paused job changes nothing.
func (c *Client) PauseJob(ctx context.Context, account, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodPost, account, id, "pause", nil)
}

// ResumeJob resumes a job; one without a schedule runs at once.
func (c *Client) ResumeJob(ctx context.Context, account, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodPost, account, id, "resume", nil)
}

// RunJob queues a run now. While a run asked for through the API is queued
// or running it fails with code run_in_progress.
func (c *Client) RunJob(ctx context.Context, account, id string) (*Job, error) {
	return c.jobCall(ctx, http.MethodPost, account, id, "run", nil)
}

func (c *Client) jobCall(ctx context.Context, method, account, id, action string, body any) (*Job, error) {
	path := accountPath(account, "jobs", id)
	if action != "" {
		path = append(path, action)
	}
	return call[Job](ctx, c, request{method: method, path: path, body: body})
}

// ListJobRuns returns a job's newest runs first (default 20, at most 100).
func (c *Client) ListJobRuns(ctx context.Context, account, id string, opts *ListOptions) ([]Run, error) {
	return listOf[Run](ctx, c, request{method: http.MethodGet, path: accountPath(account, "jobs", id, "runs"), query: limitQuery(limitOf(opts))})
}

// ListJobLogs returns a job's newest log entries first (default 100, at
// most 1000).
func (c *Client) ListJobLogs(ctx context.Context, account, id string, opts *ListOptions) ([]LogEntry, error) {
	return listOf[LogEntry](ctx, c, request{method: http.MethodGet, path: accountPath(account, "jobs", id, "logs"), query: limitQuery(limitOf(opts))})
}

// ListJobFiles returns the file ledger of an Import CSV job.
func (c *Client) ListJobFiles(ctx context.Context, account, id string) ([]LedgerEntry, error) {
	return listOf[LedgerEntry](ctx, c, request{method: http.MethodGet, path: accountPath(account, "jobs", id, "files")})
}

// GetRunRejectedRows returns the rows an Import CSV run rejected, as CSV:
// the file's columns, then _line and _reason; file, when not "", picks the
// rows of one of the run's files.
func (c *Client) GetRunRejectedRows(ctx context.Context, account, id, run, file string) ([]byte, error) {
	var q url.Values
	if file != "" {
		q = url.Values{"file": {file}}
	}
	return rawAnswer(ctx, c, request{method: http.MethodGet, path: accountPath(account, "jobs", id, "runs", run, "rejected"), query: q})
}

// RetryJobFile forgets the ledger entries of a file so that the job's next
// run imports it again.
func (c *Client) RetryJobFile(ctx context.Context, account, id string, in FileRetryInput) (*FileRetry, error) {
	return call[FileRetry](ctx, c, request{method: http.MethodPost, path: accountPath(account, "jobs", id, "files", "retry"), body: in})
}

func limitOf(o *ListOptions) int {
	if o == nil {
		return 0
	}
	return o.Limit
}
