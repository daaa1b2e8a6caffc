package client

import (
	"context"
	"net/http"
)

// CreateAuthorization creates an authorization; its secrets are sealed and
// never answered.
func (c *Client) CreateAuthorization(ctx context.Context, account string, in AuthorizationInput) (*NewAuthorization, error) {
	return call[NewAuthorization](ctx, c, request{method: http.MethodPost, path: authorizations.path(account), body: in})
}

// ListAuthorizations lists the account's authorizations.
func (c *Client) ListAuthorizations(ctx context.Context, account string) ([]Authorization, error) {
	return authorizations.list(ctx, c, account)
}

// GetAuthorization returns an authorization.
func (c *Client) GetAuthorization(ctx context.Context, account, id string) (*Authorization, error) {
	return authorizations.get(ctx, c, account, id)
}

// UpdateAuthorization changes an authorization.
func (c *Client) UpdateAuthorization(ctx context.Context, account, id string, in AuthorizationPatch) (*Authorization, error) {
	return authorizations.update(ctx, c, account, id, in)
}

// DeleteAuthorization deletes an authorization (a conflict while a job
// uses it).
func (c *Client) DeleteAuthorization(ctx context.Context, account, id string) error {
	return authorizations.delete(ctx, c, account, id)
}

// TestAuthorization tests an SFTP authorization against its server. The
// server's host key is checked before any credential is sent: without a
// pinned key the test only reports the key the server presents, and pin
// pins it (the next test logs in). A failed connection is an answer with
// OK false, not an error.
func (c *Client) TestAuthorization(ctx context.Context, account, id string, pin bool) (*AuthorizationTest, error) {
	return call[AuthorizationTest](ctx, c, request{method: http.MethodPost, path: authorizations.path(account, id, "test"), query: boolQuery("pin", pin)})
}

// AddManagedPublicKey lets the managed SFTP user of an sftp_managed
// authorization log in with a public key.
func (c *Client) AddManagedPublicKey(ctx context.Context, account, id string, in ManagedPublicKeyInput) (*ManagedPublicKey, error) {
	return call[ManagedPublicKey](ctx, c, request{method: http.MethodPost, path: authorizations.path(account, id, "public_keys"), body: in})
}

// ListManagedPublicKeys lists the public keys of an sftp_managed
// authorization's SFTP user.
func (c *Client) ListManagedPublicKeys(ctx context.Context, account, id string) ([]ManagedPublicKey, error) {
	return listOf[ManagedPublicKey](ctx, c, request{method: http.MethodGet, path: authorizations.path(account, id, "public_keys")})
}

// RemoveManagedPublicKey removes a public key by its fingerprint
// (SHA256:...).
func (c *Client) RemoveManagedPublicKey(ctx context.Context, account, id, fingerprint string) error {
	return send(ctx, c, request{method: http.MethodDelete, path: authorizations.path(account, id, "public_keys", fingerprint)})
}
