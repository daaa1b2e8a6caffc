package client

import (
	"context"
	"net/http"
	"net/url"
)

// UpsertProfiles writes records into profiles through a stream's mapping
// ("" for braze_users, the stream of Braze's user fields).
func (c *Client) UpsertProfiles(ctx context.Context, account, stream string, records []Record) (*UpsertResult, error) {
	var q url.Values
	if stream != "" {
		q = url.Values{"stream": {stream}}
	}
	return call[UpsertResult](ctx, c, request{method: http.MethodPost, path: accountPath(account, "profiles"), query: q, body: records})
}

// GetProfile returns the profile whose identity field has value.
func (c *Client) GetProfile(ctx context.Context, account, field, value string) (*Profile, error) {
	return call[Profile](ctx, c, request{method: http.MethodGet, path: accountPath(account, "profiles", field, value)})
}

// DeleteProfile forgets the profile whose identity field has value.
func (c *Client) DeleteProfile(ctx context.Context, account, field, value string) (*DeletedProfile, error) {
	return call[DeletedProfile](ctx, c, request{method: http.MethodDelete, path: accountPath(account, "profiles", field, value)})
}

// GetStreamMapping returns a stream's mapping, stored or built-in.
func (c *Client) GetStreamMapping(ctx context.Context, account, stream string) (*Mapping, error) {
	return c.mappingCall(ctx, http.MethodGet, account, stream, nil)
}

// ReplaceStreamMapping replaces a stream's mapping.
func (c *Client) ReplaceStreamMapping(ctx context.Context, account, stream string, in MappingInput) (*Mapping, error) {
	return c.mappingCall(ctx, http.MethodPut, account, stream, in)
}

// ResetStreamMapping removes a stream's stored mapping; the built-in one
// applies again.
func (c *Client) ResetStreamMapping(ctx context.Context, account, stream string) (*Mapping, error) {
	return c.mappingCall(ctx, http.MethodDelete, account, stream, nil)
}

func (c *Client) mappingCall(ctx context.Context, method, account, stream string, body any) (*Mapping, error) {
	return call[Mapping](ctx, c, request{method: method, path: accountPath(account, "streams", stream, "mapping"), body: body})
}

// ListStreamRejections returns the newest records a stream rejected
// (default 100, at most 1000).
func (c *Client) ListStreamRejections(ctx context.Context, account, stream string, opts *ListOptions) ([]StreamRejection, error) {
	return listOf[StreamRejection](ctx, c, request{method: http.MethodGet, path: accountPath(account, "streams", stream, "log"), query: limitQuery(limitOf(opts))})
}

// Collect posts records to a stream of the account, as Braze webhooks do;
// they are stored before the answer. A 429 (the account's ingest rate) is
// an *Error with code rate_limited and RetryAfter.
func (c *Client) Collect(ctx context.Context, account, stream string, records []Record, opts *CollectOptions) (*CollectResult, error) {
	return c.collect(ctx, []string{"c", account, stream}, records, opts)
}

// CollectOwnAccount posts records to a stream of the token's own account.
func (c *Client) CollectOwnAccount(ctx context.Context, stream string, records []Record, opts *CollectOptions) (*CollectResult, error) {
	return c.collect(ctx, []string{"collect", "json", stream}, records, opts)
}

func (c *Client) collect(ctx context.Context, path []string, records []Record, opts *CollectOptions) (*CollectResult, error) {
	return call[CollectResult](ctx, c, request{method: http.MethodPost, path: path, query: boolQuery("dryrun", opts != nil && opts.DryRun), body: records})
}
