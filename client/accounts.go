package client

import (
	"context"
	"net/http"
	"net/url"
)

// GetHealth answers whether the API process is alive.
func (c *Client) GetHealth(ctx context.Context) (*Health, error) {
	return call[Health](ctx, c, request{method: http.MethodGet, path: []string{"healthz"}})
}

// GetReadiness answers whether the API reaches Redis: Status "ready", or
// "redis unavailable" (a 503, answered here without an error).
func (c *Client) GetReadiness(ctx context.Context) (*Readiness, error) {
	return call[Readiness](ctx, c, request{method: http.MethodGet, path: []string{"readyz"}, accept: []int{http.StatusServiceUnavailable}})
}

// GetOpenAPIDocument returns the API's OpenAPI document, as JSON.
func (c *Client) GetOpenAPIDocument(ctx context.Context) ([]byte, error) {
	return rawAnswer(ctx, c, request{method: http.MethodGet, path: []string{"openapi.json"}})
}

// GetMetrics returns the Prometheus metrics (operator or monitor token),
// in the text exposition format.
func (c *Client) GetMetrics(ctx context.Context) (string, error) {
	out, err := rawAnswer(ctx, c, request{method: http.MethodGet, path: []string{"metrics"}})
	return string(out), err
}

// CreateAccount creates an account (operator token).
func (c *Client) CreateAccount(ctx context.Context, in AccountInput) (*Account, error) {
	return call[Account](ctx, c, request{method: http.MethodPost, path: []string{"api", "v1", "accounts"}, body: in})
}

// ListAccounts lists every account (operator token).
func (c *Client) ListAccounts(ctx context.Context) ([]Account, error) {
	return listOf[Account](ctx, c, request{method: http.MethodGet, path: []string{"api", "v1", "accounts"}})
}

// GetAccount returns an account.
func (c *Client) GetAccount(ctx context.Context, account string) (*Account, error) {
	return call[Account](ctx, c, request{method: http.MethodGet, path: accountPath(account)})
}

// CreateToken creates a token of the account; its secret is in
// NewToken.Secret, shown once.
func (c *Client) CreateToken(ctx context.Context, account string, in TokenInput) (*NewToken, error) {
	return call[NewToken](ctx, c, request{method: http.MethodPost, path: accountPath(account, "tokens"), body: in})
}

// ListTokens lists the account's tokens, revoked ones included.
func (c *Client) ListTokens(ctx context.Context, account string) ([]Token, error) {
	return listOf[Token](ctx, c, request{method: http.MethodGet, path: accountPath(account, "tokens")})
}

// RevokeToken revokes a token; it stops working at once.
func (c *Client) RevokeToken(ctx context.Context, account, id string) (*Token, error) {
	return call[Token](ctx, c, request{method: http.MethodDelete, path: accountPath(account, "tokens", id)})
}

// boolQuery is ?name=true when b, else nothing.
func boolQuery(name string, b bool) url.Values {
	if !b {
		return nil
	}
	return url.Values{name: {"true"}}
}
