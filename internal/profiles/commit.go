package profiles

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// errStaleCommit: the write version moved under a batch, or another writer
// holds the account's write turn; nothing of it was written.
var errStaleCommit = errors.New("profiles changed by a concurrent writer")

// commit runs the commands of one batch, or of several resolved one after
// the other (each against the writes of the one before), in one MULTI/EXEC
// if the write version (and every CreationHook key) is still what the
// first was resolved against and no other writer holds the write turn, and
// bumps the version once per batch in the transaction; errStaleCommit
// otherwise. It takes one round trip: it watches the version and a guard
// key, guardScript touches the guard when a value is not the expected one
// (a watched key this connection changed aborts its own EXEC too), and the
// transaction follows in the same pipeline. A commitStream sends the same
// commands without waiting.
func (s *Store) commit(ctx context.Context, account string, ps ...*pending) error {
	c := s.commitCommands(account, chainLink{}, ps)
	// A cluster client or a ring needs a key up front to pick the node (it
	// then watches it on its own too, which is harmless).
	var route []string
	if _, plain := s.rdb.(*redis.Client); !plain {
		route = []string{s.keys.pver(account)}
	}
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		pipe := tx.Pipeline()
		pipe.Do(ctx, c.watch...)
		guard := guardScript.Eval(ctx, pipe, c.guardKeys, c.guardArgs...)
		pipe.Do(ctx, "multi")
		queued := make([]*redis.Cmd, len(c.body))
		for i, cmd := range c.body {
			queued[i] = pipe.Do(ctx, cmd...)
		}
		exec := pipe.Do(ctx, "exec")
		_, _ = pipe.Exec(ctx) // each command's outcome is read below
		for i, q := range queued {
			// Redis aborts the EXEC of a transaction with a refused
			// command; a server that runs the rest anyway must not
			// leave the batch half written unnoticed.
			if err := q.Err(); err != nil {
				return fmt.Errorf("queueing %v: %w", c.body[i][0], err)
			}
		}
		replies, err := exec.Slice()
		if errors.Is(err, redis.Nil) {
			return errStaleCommit // aborted: a value was stale or changed
		}
		if err != nil {
			return err
		}
		return commitOutcome(guard.Err(), replies)
	}, route...)
	if err != nil && !errors.Is(err, errStaleCommit) {
		return fmt.Errorf("writing profiles: %w", err)
	}
	return err
}

// commitOutcome is the outcome of a commit that ran, from its guard's
// error and its transaction's replies.
func commitOutcome(guardErr error, replies []any) error {
	if guardErr != nil {
		// The transaction ran without its check: fail the write rather
		// than trust it.
		return fmt.Errorf("checking the write version: %w", guardErr)
	}
	for _, r := range replies {
		if rerr, ok := r.(error); ok {
			return rerr
		}
	}
	return nil
}

// chainLink lets a commitStream send a commit of new records while the one
// before it is still in flight, so that Redis has it at hand when the one
// before ends instead of waiting for the writer. Redis runs the commits of
// one connection in the order sent: the WATCH of a commit comes after the
// EXEC of the one before, and its check sees what that one wrote. It must
// apply only if that one applied: its guard also checks the owner key
// (<prefix>powner) that every linked commit sets to its token. The write
// version alone would not do: after the one before aborted, a foreign
// write can bring the version to the value this one expects. The zero
// chainLink is a plain commit.
type chainLink struct {
	token string // set by this commit when not ""
	after string // the commit that must have applied, when not ""
}

// commitCmds are the commands of one commit.
type commitCmds struct {
	watch     []any // WATCH of the version and the guard
	guardKeys []string
	guardArgs []any
	body      [][]any // between MULTI and EXEC
}

// commitCommands returns the commands that commit ps (see commit): the
// guard checks the write version and CreationHook keys ps[0] was resolved
// against, that the write turn is ps[0]'s (none for most), and link's
// predecessor; the transaction holds the writes of ps, releases the turn
// ps[0] held, sets link's token and bumps the write version.
func (s *Store) commitCommands(account string, link chainLink, ps []*pending) commitCmds {
	p := ps[0]
	verKey, guardKey, turnKey := s.keys.pver(account), s.keys.guard(account), s.keys.turn(account)
	c := commitCmds{
		watch:     []any{"watch", verKey, guardKey},
		guardKeys: make([]string, 0, 4+len(p.check)/2),
		guardArgs: make([]any, 0, 3+len(p.check)/2),
	}
	c.guardKeys = append(c.guardKeys, verKey, guardKey)
	c.guardArgs = append(c.guardArgs, p.pver)
	for i := 0; i+1 < len(p.check); i += 2 {
		c.guardKeys = append(c.guardKeys, p.check[i])
		c.guardArgs = append(c.guardArgs, p.check[i+1])
	}
	c.guardKeys = append(c.guardKeys, turnKey)
	c.guardArgs = append(c.guardArgs, p.turn)
	if link.after != "" {
		c.guardKeys = append(c.guardKeys, s.keys.owner(account))
		c.guardArgs = append(c.guardArgs, link.after)
	}
	for _, p := range ps {
		c.body = append(c.body, p.cmds...)
	}
	if p.turn != "" {
		c.body = append(c.body, []any{"del", turnKey})
	}
	if link.token != "" {
		c.body = append(c.body, []any{"set", s.keys.owner(account), link.token})
	}
	c.body = append(c.body, []any{"incrby", verKey, len(ps)})
	return c
}

// writeBatchTx resolves and commits one batch on its own, holding the write
// turn with the token turn when not "". It returns errStaleCommit when a
// concurrent writer kept it from committing.
func (s *Store) writeBatchTx(ctx context.Context, account string, batch []prepared, turn string) (*pending, error) {
	p, err := s.resolve(ctx, account, batch, nil)
	if err != nil {
		return nil, err
	}
	if p.stale {
		return nil, errStaleCommit
	}
	p.turn = turn
	if err := s.commit(ctx, account, p); err != nil {
		return nil, err
	}
	return p, nil
}
