package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// CreateAudience creates a rule or list audience.
func (c *Client) CreateAudience(ctx context.Context, account string, in AudienceInput) (*Audience, error) {
	return audiences.create(ctx, c, account, in)
}

// ListAudiences lists the account's audiences with their sizes, built-ins
// included.
func (c *Client) ListAudiences(ctx context.Context, account string) ([]Audience, error) {
	return audiences.list(ctx, c, account)
}

// GetAudience returns an audience.
func (c *Client) GetAudience(ctx context.Context, account, slug string) (*Audience, error) {
	return audiences.get(ctx, c, account, slug)
}

// UpdateAudience changes an audience's name, description or rule.
func (c *Client) UpdateAudience(ctx context.Context, account, slug string, in AudiencePatch) (*Audience, error) {
	return audiences.update(ctx, c, account, slug, in)
}

// DeleteAudience deletes an audience; its members leave it.
func (c *Client) DeleteAudience(ctx context.Context, account, slug string) error {
	return audiences.delete(ctx, c, account, slug)
}

// UpdateAudienceMembers adds and removes members of a list audience by
// identity; an unknown identity to add gets a profile.
func (c *Client) UpdateAudienceMembers(ctx context.Context, account, slug string, in MembersInput) (*MemberCounts, error) {
	return call[MemberCounts](ctx, c, request{method: http.MethodPost, path: audiences.path(account, slug, "members"), body: in})
}

// ListAudienceMembers returns one page of an audience's member profile
// ids.
func (c *Client) ListAudienceMembers(ctx context.Context, account, slug string, opts *MembersOptions) (*MemberPage, error) {
	q := url.Values{}
	if opts != nil && opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	if opts != nil && opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	return call[MemberPage](ctx, c, request{method: http.MethodGet, path: audiences.path(account, slug, "members"), query: q})
}
