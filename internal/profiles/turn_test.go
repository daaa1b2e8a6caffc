package profiles

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// TestTurnWaitsForItsHolder: a batch whose optimistic commits keep losing
// (here because another writer holds the write turn, which refuses them)
// waits for the turn without writing anything, then takes it, commits and
// gives it up. On Redis, on the embedded Redis of `brazesync dev`
// (miniredis) and on a three-node Redis Cluster.
func TestTurnWaitsForItsHolder(t *testing.T) {
	t.Parallel()
	backends := []struct {
		name   string
		client func(t *testing.T) (redis.UniversalClient, keyspace.Namespace)
	}{
		{"redis", func(t *testing.T) (redis.UniversalClient, keyspace.Namespace) { return redistest.Client(t) }},
		{"miniredis", func(t *testing.T) (redis.UniversalClient, keyspace.Namespace) {
			mr := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { _ = rdb.Close() })
			return rdb, "bs"
		}},
		{"cluster", func(t *testing.T) (redis.UniversalClient, keyspace.Namespace) {
			return redistest.Cluster(t, 3), keyspace.Namespace("t" + redistest.RandomID())
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			rdb, ns := be.client(t)
			s := New(rdb, ns, nil, Options{})
			waits := make(chan struct{}, 1)
			s.onTurnWait = func() {
				select {
				case waits <- struct{}{}:
				default:
				}
			}
			ctx := context.Background()
			acct := "acct-" + redistest.RandomID()
			turn := s.keys.turn(acct)
			if err := rdb.Set(ctx, turn, "another-writer", 0).Err(); err != nil {
				t.Fatal(err)
			}
			recs := collidingRecords()[:20]
			done := make(chan error, 1)
			go func() {
				res, err := s.Upsert(ctx, acct, "web", recs)
				if err == nil && res.Applied != len(recs) {
					err = fmt.Errorf("applied %d of %d records", res.Applied, len(recs))
				}
				done <- err
			}()
			select {
			case <-waits:
			case err := <-done:
				t.Fatalf("Upsert returned (%v) while another writer held the write turn", err)
			case <-time.After(time.Minute):
				t.Fatal("the writer did not wait for the write turn")
			}
			if n, err := s.Count(ctx, acct); err != nil || n != 0 {
				t.Fatalf("%d profiles (%v) written while another writer held the write turn", n, err)
			}
			if err := rdb.Del(ctx, turn).Err(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Upsert: %v", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("the writer did not take the released turn")
			}
			if n, err := s.Count(ctx, acct); err != nil || n == 0 {
				t.Fatalf("Count = %d, %v after the turn was released", n, err)
			}
			if p, err := s.Lookup(ctx, acct, "email", "tie@x.io"); err != nil || p.ID != "1" || p.Fields["city"] != "Oslo" {
				t.Errorf("merged profile = %+v, %v; want profile 1 with the survivor's Oslo", p, err)
			}
			if n := rdb.Exists(ctx, turn).Val(); n != 0 {
				t.Errorf("the write turn is still held after its holder committed")
			}
		})
	}
}

// TestTakeTurn: one writer at a time holds the turn, for at most turnTTL;
// its holder is told it still holds it.
func TestTakeTurn(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{})
	ctx := context.Background()
	acct := "acct-" + redistest.RandomID()
	for _, c := range []struct {
		token string
		held  bool
	}{{"a", true}, {"b", false}, {"a", true}} {
		held, err := s.takeTurn(ctx, acct, c.token)
		if err != nil || held != c.held {
			t.Fatalf("takeTurn(%q) = %v, %v; want %v", c.token, held, err, c.held)
		}
	}
	if ttl := rdb.PTTL(ctx, s.keys.turn(acct)).Val(); ttl <= 0 || ttl > turnTTL {
		t.Errorf("the turn lapses in %v, want within %v", ttl, turnTTL)
	}
	s.releaseTurn(ctx, acct, "b") // not b's: kept
	if v := rdb.Get(ctx, s.keys.turn(acct)).Val(); v != "a" {
		t.Fatalf("turn holder after another's release = %q, want a", v)
	}
	s.releaseTurn(ctx, acct, "a")
	if n := rdb.Exists(ctx, s.keys.turn(acct)).Val(); n != 0 {
		t.Fatalf("the turn is still held after its holder gave it up")
	}
}
