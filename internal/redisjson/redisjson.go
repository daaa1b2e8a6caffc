// Package redisjson reads and writes JSON values held in Redis hashes.
package redisjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// HGetJSON reads field of the hash at key as JSON into v. found is false
// (and v untouched) when the field does not exist.
func HGetJSON(ctx context.Context, rdb redis.Cmdable, key, field string, v any) (found bool, err error) {
	b, err := rdb.HGet(ctx, key, field).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", field, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decoding %s: %w", field, err)
	}
	return true, nil
}
