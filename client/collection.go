package client

import (
	"context"
	"net/http"
)

// collection names one kind of an account's resources whose documents are
// T, and holds the API's convention for them once: POST and GET on
// /api/v1/accounts/{account}/{name} create one and list them, and GET,
// PATCH and DELETE on .../{name}/{id} read, change and delete one.
// Operations outside the convention build their request on path.
type collection[T any] string

const (
	audiences      collection[Audience]      = "audiences"
	authorizations collection[Authorization] = "authorizations"
)

// path is the path of the collection, or of what rest names under it.
func (k collection[T]) path(account string, rest ...string) []string {
	return accountPath(account, append([]string{string(k)}, rest...)...)
}

func (k collection[T]) create(ctx context.Context, c *Client, account string, in any) (*T, error) {
	return call[T](ctx, c, request{method: http.MethodPost, path: k.path(account), body: in})
}

func (k collection[T]) list(ctx context.Context, c *Client, account string) ([]T, error) {
	return listOf[T](ctx, c, request{method: http.MethodGet, path: k.path(account)})
}

func (k collection[T]) get(ctx context.Context, c *Client, account, id string) (*T, error) {
	return call[T](ctx, c, request{method: http.MethodGet, path: k.path(account, id)})
}

func (k collection[T]) update(ctx context.Context, c *Client, account, id string, patch any) (*T, error) {
	return call[T](ctx, c, request{method: http.MethodPatch, path: k.path(account, id), body: patch})
}

func (k collection[T]) delete(ctx context.Context, c *Client, account, id string) error {
	return send(ctx, c, request{method: http.MethodDelete, path: k.path(account, id)})
}
