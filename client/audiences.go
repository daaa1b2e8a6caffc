package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// CreateAudience creates a rule or list audience.
func (c *Client) CreateAudience(ctx context.Context, account string, in AudienceInput) (*Audience, error) {
	var out Audience
	_, err := c.do(ctx, request{method: http.MethodPost, path: accountPath(account, "audiences"), body: in, out: &out})
	return ret(&out, err)
}

// ListAudiences lists the account's audiences with their sizes, built-ins
// included.
func (c *Client) ListAudiences(ctx context.Context, account string) ([]Audience, error) {
	var out list[Audience]
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account, "audiences"), out: &out})
	return out.Data, err
}

// GetAudience returns an audience.
func (c *Client) GetAudience(ctx context.Context, account, slug string) (*Audience, error) {
	var out Audience
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account, "audiences", slug), out: &out})
	return ret(&out, err)
}

// UpdateAudience changes an audience's name, description or rule.
func (c *Client) UpdateAudience(ctx context.Context, account, slug string, in AudiencePatch) (*Audience, error) {
	var out Audience
	_, err := c.do(ctx, request{method: http.MethodPatch, path: accountPath(account, "audiences", slug), body: in, out: &out})
	return ret(&out, err)
}

// DeleteAudience deletes an audience; its members leave it.
func (c *Client) DeleteAudience(ctx context.Context, account, slug string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: accountPath(account, "audiences", slug)})
	return err
}

// UpdateAudienceMembers adds and removes members of a list audience by
// identity; an unknown identity to add gets a profile.
func (c *Client) UpdateAudienceMembers(ctx context.Context, account, slug string, in MembersInput) (*MemberCounts, error) {
	var out MemberCounts
	_, err := c.do(ctx, request{method: http.MethodPost, path: accountPath(account, "audiences", slug, "members"), body: in, out: &out})
	return ret(&out, err)
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
	var out MemberPage
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account, "audiences", slug, "members"), query: q, out: &out})
	return ret(&out, err)
}
