package sftpd

import (
	"context"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// quietChannel wraps a session's SFTP byte stream and counts the packets
// that went in and the packets that came out. SFTP answers every request
// with exactly one response, so when the two counts are equal the session
// owes the client nothing: Stop waits for that before it closes a
// connection, so that the answer to the last close of an upload is not lost.
type quietChannel struct {
	io.ReadWriteCloser

	in, out framer

	lastActive atomic.Int64 // unix nanoseconds of the last read or write

	mu      sync.Mutex
	pending int
	waiters []chan struct{}
}

func newQuietChannel(rwc io.ReadWriteCloser) *quietChannel {
	q := &quietChannel{ReadWriteCloser: rwc}
	q.lastActive.Store(time.Now().UnixNano())
	return q
}

// idleFor is how long the session has exchanged nothing.
func (q *quietChannel) idleFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, q.lastActive.Load()))
}

// closeWhenIdle closes the session once it has been idle for timeout,
// checking every timeout/4, until done is closed.
func (q *quietChannel) closeWhenIdle(timeout time.Duration, done <-chan struct{}, onIdle func()) {
	tick := time.NewTicker(max(timeout/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			if q.idleFor(now) >= timeout {
				onIdle()
				_ = q.Close()
				return
			}
		}
	}
}

func (q *quietChannel) Read(p []byte) (int, error) {
	n, err := q.ReadWriteCloser.Read(p)
	q.lastActive.Store(time.Now().UnixNano())
	if done := q.in.feed(p[:n]); done > 0 {
		q.mu.Lock()
		q.pending += done
		q.mu.Unlock()
	}
	return n, err
}

func (q *quietChannel) Write(p []byte) (int, error) {
	n, err := q.ReadWriteCloser.Write(p)
	q.lastActive.Store(time.Now().UnixNano())
	q.mu.Lock()
	defer q.mu.Unlock()
	if done := q.out.feed(p[:n]); done > 0 {
		q.pending -= done
		if q.pending <= 0 {
			for _, w := range q.waiters {
				close(w)
			}
			q.waiters = nil
		}
	}
	return n, err
}

// waitQuiet waits until every request read so far has been answered, or
// ctx ends.
func (q *quietChannel) waitQuiet(ctx context.Context) {
	q.mu.Lock()
	if q.pending <= 0 {
		q.mu.Unlock()
		return
	}
	w := make(chan struct{})
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()
	select {
	case <-w:
	case <-ctx.Done():
	}
}

// framer follows SFTP's framing (a uint32 length, then that many bytes)
// through a byte stream and counts the packets it completes. It is used
// by one goroutine at a time: the stream's reader, or a writer under q.mu.
type framer struct {
	hdr    [4]byte
	hdrLen int    // header bytes seen of the current packet
	left   uint32 // body bytes still to come
}

// feed consumes b and returns how many packets it completed.
func (f *framer) feed(b []byte) int {
	done := 0
	for len(b) > 0 {
		if f.hdrLen < 4 {
			n := copy(f.hdr[f.hdrLen:], b)
			f.hdrLen += n
			b = b[n:]
			if f.hdrLen < 4 {
				break
			}
			f.left = binary.BigEndian.Uint32(f.hdr[:])
		}
		n := uint32(min(uint64(len(b)), uint64(f.left)))
		f.left -= n
		b = b[n:]
		if f.left == 0 {
			f.hdrLen = 0
			done++
		}
	}
	return done
}
