package client

import (
	"context"
	"net/http"
	"net/url"
)

// list is the {"data": [...]} answer of the listing operations.
type list[T any] struct {
	Data []T `json:"data"`
}

// GetHealth answers whether the API process is alive.
func (c *Client) GetHealth(ctx context.Context) (*Health, error) {
	var out Health
	_, err := c.do(ctx, request{method: http.MethodGet, path: []string{"healthz"}, out: &out})
	return ret(&out, err)
}

// GetReadiness answers whether the API reaches Redis: Status "ready", or
// "redis unavailable" (a 503, answered here without an error).
func (c *Client) GetReadiness(ctx context.Context) (*Readiness, error) {
	var out Readiness
	_, err := c.do(ctx, request{method: http.MethodGet, path: []string{"readyz"}, accept: []int{http.StatusServiceUnavailable}, out: &out})
	return ret(&out, err)
}

// GetOpenAPIDocument returns the API's OpenAPI document, as JSON.
func (c *Client) GetOpenAPIDocument(ctx context.Context) ([]byte, error) {
	var out []byte
	_, err := c.do(ctx, request{method: http.MethodGet, path: []string{"openapi.json"}, raw: &out})
	return out, err
}

// GetMetrics returns the Prometheus metrics (operator or monitor token),
// in the text exposition format.
func (c *Client) GetMetrics(ctx context.Context) (string, error) {
	var out []byte
	_, err := c.do(ctx, request{method: http.MethodGet, path: []string{"metrics"}, raw: &out})
	return string(out), err
}

// CreateAccount creates an account (operator token).
func (c *Client) CreateAccount(ctx context.Context, in AccountInput) (*Account, error) {
	var out Account
	_, err := c.do(ctx, request{method: http.MethodPost, path: []string{"api", "v1", "accounts"}, body: in, out: &out})
	return ret(&out, err)
}

// ListAccounts lists every account (operator token).
func (c *Client) ListAccounts(ctx context.Context) ([]Account, error) {
	var out list[Account]
	_, err := c.do(ctx, request{method: http.MethodGet, path: []string{"api", "v1", "accounts"}, out: &out})
	return out.Data, err
}

// GetAccount returns an account.
func (c *Client) GetAccount(ctx context.Context, account string) (*Account, error) {
	var out Account
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account), out: &out})
	return ret(&out, err)
}

// CreateToken creates a token of the account; its secret is in
// NewToken.Secret, shown once.
func (c *Client) CreateToken(ctx context.Context, account string, in TokenInput) (*NewToken, error) {
	var out NewToken
	_, err := c.do(ctx, request{method: http.MethodPost, path: accountPath(account, "tokens"), body: in, out: &out})
	return ret(&out, err)
}

// ListTokens lists the account's tokens, revoked ones included.
func (c *Client) ListTokens(ctx context.Context, account string) ([]Token, error) {
	var out list[Token]
	_, err := c.do(ctx, request{method: http.MethodGet, path: accountPath(account, "tokens"), out: &out})
	return out.Data, err
}

// RevokeToken revokes a token; it stops working at once.
func (c *Client) RevokeToken(ctx context.Context, account, id string) (*Token, error) {
	var out Token
	_, err := c.do(ctx, request{method: http.MethodDelete, path: accountPath(account, "tokens", id), out: &out})
	return ret(&out, err)
}

// ret returns out, or nil and err.
func ret[T any](out *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}

// boolQuery is ?name=true when b, else nothing.
func boolQuery(name string, b bool) url.Values {
	if !b {
		return nil
	}
	return url.Values{name: {"true"}}
}
