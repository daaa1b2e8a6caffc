package main

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/brazesync/brazesync/internal/tcpforward"
)

// delayProxy forwards a 127.0.0.1 port to a target and delays every chunk
// by a fixed one-way delay in each direction, without limiting throughput:
// a reader stamps each chunk with the time it is due and queues it; a writer
// sends chunks when due. Chunks in flight overlap, as on a long link, so a
// protocol that pipelines its requests keeps its throughput while one that
// waits for each answer pays the round trip every time.
type delayProxy struct {
	*tcpforward.Forwarder
	delay time.Duration
}

// chunk is a piece of the stream and the time it may be written.
type chunk struct {
	data []byte
	due  time.Time
	eof  bool
}

// queueChunks bounds the chunks queued per direction (up to 32 KiB each):
// 64 MiB in flight, far above what a 10 ms link carries on loopback.
const queueChunks = 2048

// startDelayProxy listens on a fresh 127.0.0.1 port.
func startDelayProxy(target string, oneWay time.Duration) (*delayProxy, error) {
	p := &delayProxy{delay: oneWay}
	f, err := tcpforward.Listen(target, p.pipe)
	if err != nil {
		return nil, err
	}
	p.Forwarder = f
	return p, nil
}

// pipe copies src to dst, each chunk delayed by p.delay.
func (p *delayProxy) pipe(dst, src net.Conn) {
	q := make(chan chunk, queueChunks)
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
		for c := range q {
			if wait := time.Until(c.due); wait > 0 {
				timer.Reset(wait)
				<-timer.C
			}
			if c.eof {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				continue
			}
			if _, err := dst.Write(c.data); err != nil {
				_ = src.Close() // unblock the reader
				for range q {
				}
				return
			}
		}
	}()
	for {
		buf := make([]byte, 32*1024)
		n, err := src.Read(buf)
		now := time.Now()
		if n > 0 {
			q <- chunk{data: buf[:n], due: now.Add(p.delay)}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				q <- chunk{eof: true, due: now.Add(p.delay)}
			}
			close(q)
			<-done
			return
		}
	}
}

// measureRTT checks the proxy's delay: it puts a second proxy with the same
// delay in front of a local echo server and returns the fastest of five
// one-byte round trips.
func measureRTT(oneWay time.Duration) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	p, err := startDelayProxy(ln.Addr().String(), oneWay)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	best := time.Duration(1<<63 - 1)
	b := []byte{1}
	for range 5 {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return 0, err
		}
		best = min(best, time.Since(start))
	}
	return best, nil
}
