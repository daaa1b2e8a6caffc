package client

import (
	"context"
	"net/http"
)

// CreateAuthorization creates an authorization; its secrets are sealed and
// never answered.
func (c *Client) CreateAuthorization(ctx context.Context, account string, in AuthorizationInput) (*NewAuthorization, error) {
	var out NewAuthorization
	_, err := c.do(ctx, request{method: http.MethodPost, path: accountPath(account, "authorizations"), body: in, out: &out})
	return ret(&out, err)
}

// ListAuthorizations lists the account's authorizations.
func (c *Client) ListAuthorizations(ctx context.Context, account string) ([]Authorization, error) {
	var out list[Authorization]
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account, "authorizations"), out: &out})
	return out.Data, err
}

// GetAuthorization returns an authorization.
func (c *Client) GetAuthorization(ctx context.Context, account, id string) (*Authorization, error) {
	var out Authorization
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account, "authorizations", id), out: &out})
	return ret(&out, err)
}

// UpdateAuthorization changes an authorization.
func (c *Client) UpdateAuthorization(ctx context.Context, account, id string, in AuthorizationPatch) (*Authorization, error) {
	var out Authorization
	_, err := c.do(ctx, request{method: http.MethodPatch, path: accountPath(account, "authorizations", id), body: in, out: &out})
	return ret(&out, err)
}

// DeleteAuthorization deletes an authorization (a conflict while a job
// uses it).
func (c *Client) DeleteAuthorization(ctx context.Context, account, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: accountPath(account, "authorizations", id)})
	return err
}

// TestAuthorization tests an SFTP authorization against its server. The
// server's host key is checked before any credential is sent: without a
// pinned key the test only reports the key the server presents, and pin
// pins it (the next test logs in). A failed connection is an answer with
// OK false, not an error.
func (c *Client) TestAuthorization(ctx context.Context, account, id string, pin bool) (*AuthorizationTest, error) {
	var out AuthorizationTest
	_, err := c.do(ctx, request{method: http.MethodPost, path: accountPath(account, "authorizations", id, "test"), query: boolQuery("pin", pin), out: &out})
	return ret(&out, err)
}

// AddManagedPublicKey lets the managed SFTP user of an sftp_managed
// authorization log in with a public key.
func (c *Client) AddManagedPublicKey(ctx context.Context, account, id string, in ManagedPublicKeyInput) (*ManagedPublicKey, error) {
	var out ManagedPublicKey
	_, err := c.do(ctx, request{method: http.MethodPost, path: accountPath(account, "authorizations", id, "public_keys"), body: in, out: &out})
	return ret(&out, err)
}

// ListManagedPublicKeys lists the public keys of an sftp_managed
// authorization's SFTP user.
func (c *Client) ListManagedPublicKeys(ctx context.Context, account, id string) ([]ManagedPublicKey, error) {
	var out list[ManagedPublicKey]
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account, "authorizations", id, "public_keys"), out: &out})
	return out.Data, err
}

// RemoveManagedPublicKey removes a public key by its fingerprint
// (SHA256:...).
func (c *Client) RemoveManagedPublicKey(ctx context.Context, account, id, fingerprint string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: accountPath(account, "authorizations", id, "public_keys", fingerprint)})
	return err
}
