package profiles

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// The write turn. A batch commits optimistically (commit.go) and is
// resolved again when a concurrent writer committed first. One that lost
// txAttempts races in a row takes the account's write turn (<prefix>pturn,
// SET NX with a time to live) and commits under it: while a writer holds
// the turn, the guard of every other commit refuses it, so the holder can
// only lose to writes that commit no batch (Delete, the migrations), and
// the transaction that applies its batch releases the turn. A writer that
// finds the turn taken waits for it, in growing pauses. Should the holder
// die, the turn lapses after turnTTL.
//
// The same rules (merge.go) and the same commit serve every batch, contended
// or not.

const (
	// txAttempts is how many times a batch is tried optimistically before
	// it takes the write turn.
	txAttempts = 3
	// turnTTL bounds how long a writer holds the turn: long enough to read,
	// resolve and commit one batch.
	turnTTL = 5 * time.Second
	// turnWaitMax bounds how long a batch waits for the turn before it
	// fails (its records may then be applied again).
	turnWaitMax = time.Minute
	// turnPauseMin and turnPauseMax bound a pause between attempts to take
	// the turn; each pause doubles the one before, with jitter.
	turnPauseMin = time.Millisecond
	turnPauseMax = 50 * time.Millisecond
)

// applyBatch writes one batch on its own and returns its changes for the
// hook (none without a hook). It tries the optimistic commit, and after
// repeated conflicts with concurrent writers commits under the write turn.
func (s *Store) applyBatch(ctx context.Context, account string, batch []prepared) ([]Change, error) {
	for range txAttempts {
		p, err := s.writeBatchTx(ctx, account, batch, "")
		if errors.Is(err, errStaleCommit) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("applying %d records to profiles of account %q: %w", len(batch), account, err)
		}
		return s.hookChanges(ctx, account, p), nil
	}
	p, err := s.writeInTurn(ctx, account, batch)
	if err != nil {
		return nil, fmt.Errorf("applying %d records to profiles of account %q: %w", len(batch), account, err)
	}
	return s.hookChanges(ctx, account, p), nil
}

// hookChanges is batchChanges when the store has a hook, else nil.
func (s *Store) hookChanges(ctx context.Context, account string, p *pending) []Change {
	if s.hook == nil {
		return nil
	}
	return s.batchChanges(ctx, account, p)
}

// writeInTurn takes the account's write turn and resolves and commits the
// batch under it.
func (s *Store) writeInTurn(ctx context.Context, account string, batch []prepared) (*pending, error) {
	token, err := newTurnToken()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	pause := turnPauseMin
	for {
		held, err := s.takeTurn(ctx, account, token)
		if err != nil {
			return nil, err
		}
		if held {
			p, err := s.writeBatchTx(ctx, account, batch, token)
			if err == nil {
				return p, nil // the commit released the turn
			}
			if !errors.Is(err, errStaleCommit) {
				s.releaseTurn(ctx, account, token)
				return nil, err
			}
			// A write that takes no turn came in, or the turn lapsed:
			// resolve again.
		}
		if time.Since(start) >= turnWaitMax {
			if held {
				s.releaseTurn(ctx, account, token)
			}
			return nil, fmt.Errorf("no commit under the write turn within %v: %w", turnWaitMax, errStaleCommit)
		}
		if held {
			continue
		}
		if s.onTurnWait != nil {
			s.onTurnWait()
		}
		t := time.NewTimer(pause/2 + mrand.N(pause/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, turnPauseMax)
	}
}

// takeTurn takes the account's write turn for token unless another writer
// holds it, and tells whether token holds it.
func (s *Store) takeTurn(ctx context.Context, account, token string) (bool, error) {
	key := s.keys.turn(account)
	pipe := s.rdb.Pipeline()
	pipe.SetNX(ctx, key, token, turnTTL)
	holder := pipe.Get(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("taking the write turn: %w", err)
	}
	return holder.Val() == token, nil
}

// releaseTurn gives the turn up if token still holds it, after a commit
// that failed. A failure is logged: the turn then lapses after turnTTL.
func (s *Store) releaseTurn(ctx context.Context, account, token string) {
	ctx = context.WithoutCancel(ctx)
	key := s.keys.turn(account)
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		holder, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) || (err == nil && holder != token) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, key)
			return nil
		})
		return err
	}, key)
	if err != nil && !errors.Is(err, redis.TxFailedErr) { // TxFailedErr: no longer its turn
		s.log.Warn("profiles: releasing the write turn failed; it lapses by itself",
			"account", account, "ttl", turnTTL, "err", err)
	}
}

// newTurnToken names one writer's hold of the turn.
func newTurnToken() (string, error) {
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("making a write turn token: %w", err)
	}
	return hex.EncodeToString(r[:]), nil
}
