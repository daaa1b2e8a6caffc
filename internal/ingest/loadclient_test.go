package ingest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// poster sends POST requests over one keep-alive HTTP/1.1 connection with
// no more work than the protocol needs, as load generators such as wrk do:
// one write per request, and of the answer only the status and the
// Content-Length are read. net/http's client spends three goroutines and
// a header map on every request, which on a shared 2-core machine takes
// CPU from the server being measured (and from the baseline alike).
type poster struct {
	addr string
	head []byte // the request up to the Content-Length value
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
}

func newPoster(rawURL string) (*poster, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: ", u.RequestURI(), u.Host)
	return &poster{addr: u.Host, head: head}, nil
}

// post sends body and tells whether the answer was 200; a connection that
// failed is dialled again on the next post.
func (p *poster) post(body []byte) bool {
	if p.conn == nil {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			return false
		}
		p.conn, p.br = c, bufio.NewReaderSize(c, 4096)
	}
	p.buf = append(p.buf[:0], p.head...)
	p.buf = strconv.AppendInt(p.buf, int64(len(body)), 10)
	p.buf = append(p.buf, "\r\n\r\n"...)
	p.buf = append(p.buf, body...)
	status, err := p.roundTrip()
	if err != nil {
		p.Close()
		return false
	}
	return status == 200
}

func (p *poster) roundTrip() (int, error) {
	if _, err := p.conn.Write(p.buf); err != nil {
		return 0, err
	}
	line, err := p.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		line, err := p.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 { // the blank line ending the header
			break
		}
		const cl = "content-length:"
		if len(line) > len(cl) && bytes.EqualFold(line[:len(cl)], []byte(cl)) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[len(cl):])))
			if err != nil {
				return 0, fmt.Errorf("bad header %q", line)
			}
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("answer without Content-Length")
	}
	if _, err := p.br.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

// Close closes the connection.
func (p *poster) Close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}
