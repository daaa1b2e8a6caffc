package ingest

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNextReadCountAdaptsToBodySizes(t *testing.T) {
	t.Parallel()
	msgs := func(n, size int) []redis.XMessage {
		out := make([]redis.XMessage, n)
		for i := range out {
			out[i] = redis.XMessage{Values: map[string]any{fieldBody: strings.Repeat("x", size)}}
		}
		return out
	}
	if got := nextReadCount(msgs(200, 300), 200, 200); got != 200 {
		t.Errorf("small bodies: next count %d, want 200", got)
	}
	if got := nextReadCount(msgs(200, 1<<20), 200, 200); got != 4 {
		t.Errorf("1 MB bodies: next count %d, want 4 (4 MB a read)", got)
	}
	if got := nextReadCount(msgs(1, 10<<20), 1, 200); got != 1 {
		t.Errorf("one 10 MB body: next count %d, want 1", got)
	}
	if got := nextReadCount(msgs(4, 100), 4, 200); got != 8 {
		t.Errorf("after large bodies, small ones: next count %d, want 8 (doubling back)", got)
	}
}
