package csvimport

import (
	"io"
	"sync"
)

// readahead reads its source in a goroutine, a few chunks ahead, so that
// download, decryption and decompression run on one core while CSV parsing
// runs on another. Memory is bounded by depth chunks of size bytes.
type readahead struct {
	ch   chan chunk
	free chan []byte
	stop chan struct{}
	wg   sync.WaitGroup
	cur  []byte
	buf  []byte // cur's backing buffer, returned to free when consumed
	err  error
	once sync.Once
}

type chunk struct {
	b   []byte
	err error
}

func newReadahead(src io.Reader, size, depth int) *readahead {
	ra := &readahead{
		ch:   make(chan chunk, depth),
		free: make(chan []byte, depth+1),
		stop: make(chan struct{}),
	}
	for i := 0; i < depth+1; i++ {
		ra.free <- make([]byte, size)
	}
	ra.wg.Add(1)
	go ra.fill(src)
	return ra
}

func (ra *readahead) fill(src io.Reader) {
	defer ra.wg.Done()
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.stop:
			return
		}
		n, err := fillBuf(src, b)
		select {
		case ra.ch <- chunk{b: b[:n], err: err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		c := <-ra.ch
		ra.cur, ra.buf, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it. The source is not closed.
func (ra *readahead) Close() {
	ra.once.Do(func() {
		close(ra.stop)
		ra.wg.Wait()
	})
}

// fillBuf reads into b until it is full or src fails; unlike io.ReadFull it
// passes src's error through unchanged (io.EOF stays io.EOF, a truncation
// error stays one).
func fillBuf(src io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := src.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
