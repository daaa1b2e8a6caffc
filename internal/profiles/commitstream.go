package profiles

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/redispipe"
)

// commitStream sends a Bulk's commits of new records on a connection of
// its own, each one while those before it are still in flight, and hands
// each its outcome in order (see chainLink). Replies are read by a
// goroutine of the stream while the writer sends the next commits.
//
// go-redis cannot do this: a pipeline reads its replies only after writing
// it, and two connections do not keep the commits in order.
type commitStream struct {
	conn *redispipe.Conn
	sent chan sentCommit
	done chan struct{}
	stop func() bool
}

// sentCommit is a commit whose replies the reader is to read; err is set
// when sending it failed.
type sentCommit struct {
	g   *flightGroup
	n   int // commands in the transaction
	err error
}

// commitWait bounds the wait for the replies of one commit.
const commitWait = 30 * time.Second

// openStream connects a commitStream to the server of account's keys. It
// stops when ctx ends.
func (s *Store) openStream(ctx context.Context, account string) (*commitStream, error) {
	conn, err := redispipe.Dial(ctx, s.rdb, s.keys.pver(account))
	if err != nil {
		return nil, err
	}
	cs := &commitStream{conn: conn, sent: make(chan sentCommit, maxFlight), done: make(chan struct{})}
	cs.stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	go cs.read()
	return cs, nil
}

// send writes g's commit; its outcome comes on g.done.
func (cs *commitStream) send(c commitCmds, g *flightGroup) {
	cs.conn.Command(c.watch...)
	args := make([]any, 0, 3+len(c.guardKeys)+len(c.guardArgs))
	args = append(args, "eval", guardSource, len(c.guardKeys))
	for _, k := range c.guardKeys {
		args = append(args, k)
	}
	args = append(args, c.guardArgs...)
	cs.conn.Command(args...)
	cs.conn.Command("multi")
	for _, cmd := range c.body {
		cs.conn.Command(cmd...)
	}
	cs.conn.Command("exec")
	cs.sent <- sentCommit{g: g, n: len(c.body), err: cs.conn.Flush()}
}

// read hands every sent commit its outcome. After the connection failed,
// every commit fails with its error.
func (cs *commitStream) read() {
	defer close(cs.done)
	var broken error
	for sc := range cs.sent {
		if broken == nil && sc.err != nil {
			broken = fmt.Errorf("writing profiles: %w", sc.err)
		}
		if broken != nil {
			sc.g.done <- broken
			continue
		}
		err := cs.outcome(sc.n)
		var conn connError
		if errors.As(err, &conn) {
			broken = err
			// A writer blocked on a server that stopped reading returns.
			_ = cs.conn.Close()
		}
		sc.g.done <- err
	}
}

// connError is a failure of the stream's connection.
type connError struct{ error }

func (e connError) Unwrap() error { return e.error }

// outcome reads the replies of one commit of n commands: WATCH, the
// guard, MULTI, n times QUEUED, EXEC.
func (cs *commitStream) outcome(n int) error {
	_ = cs.conn.SetReadDeadline(time.Now().Add(commitWait))
	var watch, guard, multi, exec, refused any
	for i := range 4 + n {
		r, err := cs.conn.Read()
		if err != nil {
			return connError{fmt.Errorf("writing profiles: %w", err)}
		}
		switch i {
		case 0:
			watch = r
		case 1:
			guard = r
		case 2:
			multi = r
		case 3 + n:
			exec = r
		default:
			// A command refused when queued: Redis then aborts the EXEC,
			// but a server that runs the rest anyway must not leave the
			// batch half written unnoticed.
			if _, ok := r.(redispipe.Error); ok && refused == nil {
				refused = r
			}
		}
	}
	for _, r := range []any{watch, multi, refused} {
		if rerr, ok := r.(redispipe.Error); ok {
			return fmt.Errorf("writing profiles: %w", rerr)
		}
	}
	switch r := exec.(type) {
	case nil:
		return errStaleCommit // aborted: a value was stale or changed
	case redispipe.Error:
		return fmt.Errorf("writing profiles: %w", r) // a command was refused
	case []any:
		var guardErr error
		if rerr, ok := guard.(redispipe.Error); ok {
			guardErr = rerr
		}
		if err := commitOutcome(guardErr, r); err != nil {
			return fmt.Errorf("writing profiles: %w", err)
		}
		return nil
	}
	return fmt.Errorf("writing profiles: EXEC replied %T", exec)
}

// close waits for the outcomes of the commits sent and closes the
// connection.
func (cs *commitStream) close() {
	close(cs.sent)
	<-cs.done
	cs.stop()
	_ = cs.conn.Close()
}
