package embeddedredis_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/brazesync/brazesync/internal/embeddedredis"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// TestBitfieldLikeRedis sends the same BITFIELD and BITFIELD_RO commands to
// a real Redis and to the embedded one, alone, pipelined and inside MULTI,
// and compares every reply and the resulting strings.
func TestBitfieldLikeRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	real, ns := redistest.Client(t)
	srv, err := embeddedredis.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	emb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { emb.Close() })

	key := string(ns) + ":bits"
	cmds := [][]any{
		{"BITFIELD", key, "SET", "u1", 5, 1},
		{"BITFIELD", key, "SET", "u8", 16, 200, "GET", "u8", 16, "GET", "i8", 16},
		{"BITFIELD", key, "SET", "u63", 100, uint64(1)<<20 - 1},
		{"BITFIELD", key, "SET", "u3", "#4", 5, "GET", "u3", "#4"},
		{"BITFIELD", key, "OVERFLOW", "WRAP", "SET", "i5", 40, -3, "GET", "i5", 40},
		{"BITFIELD_RO", key, "GET", "u1", 5, "GET", "u1", 6, "GET", "u1", 120, "GET", "u1", 1 << 20},
		{"BITFIELD_RO", key + "-missing", "GET", "u1", 3},
		{"GET", key},
	}
	for i, c := range cmds {
		want, werr := real.Do(ctx, c...).Result()
		got, gerr := emb.Do(ctx, c...).Result()
		if fmt.Sprint(werr) != fmt.Sprint(gerr) || !reflect.DeepEqual(want, got) {
			t.Errorf("command %d %v: Redis answered %v, %v; the embedded Redis %v, %v", i, c, want, werr, got, gerr)
		}
	}

	// Inside MULTI the command is queued and runs with the transaction.
	for _, rdb := range []*redis.Client{real, emb} {
		pipe := rdb.TxPipeline()
		pipe.Do(ctx, "BITFIELD", key+"-tx", "SET", "u4", 0, 9)
		ro := pipe.BitFieldRO(ctx, key+"-tx", "u4", 0, "u1", 3)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("MULTI with BITFIELD: %v", err)
		}
		if got := ro.Val(); !reflect.DeepEqual(got, []int64{9, 1}) {
			t.Errorf("BITFIELD_RO after SET in one transaction: %v, want [9 1]", got)
		}
		if err := rdb.Del(ctx, key+"-tx").Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBitfieldErrors checks the embedded Redis refuses what Redis refuses.
func TestBitfieldErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	real, ns := redistest.Client(t)
	srv, err := embeddedredis.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	emb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { emb.Close() })
	key := string(ns) + ":bad"
	for _, c := range [][]any{
		{"BITFIELD_RO", key, "SET", "u1", 0, 1},
		{"BITFIELD", key, "GET", "u64", 0},
		{"BITFIELD", key, "GET", "x8", 0},
		{"BITFIELD", key, "GET", "u8", -1},
		{"BITFIELD", key, "GET", "u8"},
		{"BITFIELD", key, "SET", "u8", 0, "abc"},
		{"BITFIELD", key, "OVERFLOW", "MAYBE"},
	} {
		_, werr := real.Do(ctx, c...).Result()
		_, gerr := emb.Do(ctx, c...).Result()
		if werr == nil || gerr == nil {
			t.Errorf("%v: Redis answered error %v, the embedded Redis %v; want both to refuse", c, werr, gerr)
		}
	}
}
