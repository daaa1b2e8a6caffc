// Package redispipe streams commands to Redis on a connection of its own:
// one goroutine writes commands while another reads the replies of those
// sent before, as redis-cli --pipe does. go-redis' pipelines write every
// command and then read every reply, so the next pipeline waits for the
// last reply of the one before; here Redis never waits for the client
// between them.
//
// The connection speaks RESP2 and takes its address, credentials (user
// name and password), TLS and database from a go-redis client.
package redispipe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnsupported is returned by Dial for a client whose connections it
// cannot reproduce (a Ring, or credentials from a provider).
var ErrUnsupported = errors.New("redispipe: unsupported client")

// Error is an error reply of Redis.
type Error string

func (e Error) Error() string { return string(e) }

// Conn is a connection to one Redis server. Command and Flush may be
// called by one goroutine while Read is called by another; neither side
// may be used by two goroutines at once.
type Conn struct {
	nc  net.Conn
	w   *bufio.Writer
	r   *bufio.Reader
	num []byte
}

// Dial connects to the server of rdb that holds key (the only server of a
// plain client), authenticated and on the client's database.
func Dial(ctx context.Context, rdb redis.UniversalClient, key string) (*Conn, error) {
	var opt *redis.Options
	switch c := rdb.(type) {
	case *redis.Client:
		opt = c.Options()
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("redispipe: finding the node of %q: %w", key, err)
		}
		opt = node.Options()
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnsupported, rdb)
	}
	if opt.CredentialsProvider != nil || opt.CredentialsProviderContext != nil || opt.StreamingCredentialsProvider != nil {
		return nil, fmt.Errorf("%w: credentials from a provider", ErrUnsupported)
	}
	if opt.Dialer == nil {
		return nil, fmt.Errorf("%w: no dialer", ErrUnsupported)
	}
	if _, ok := ctx.Deadline(); !ok && opt.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.DialTimeout+opt.ReadTimeout)
		defer cancel()
	}
	nc, err := opt.Dialer(ctx, opt.Network, opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("redispipe: connecting to %s: %w", opt.Addr, err)
	}
	c := &Conn{nc: nc, w: bufio.NewWriterSize(nc, 64<<10), r: bufio.NewReaderSize(nc, 16<<10)}
	if err := c.hello(ctx, opt); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("redispipe: %s: %w", opt.Addr, err)
	}
	return c, nil
}

// hello authenticates and selects the database. Its errors never hold
// the password.
func (c *Conn) hello(ctx context.Context, opt *redis.Options) error {
	if d, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(d)
		defer func() { _ = c.nc.SetDeadline(time.Time{}) }()
	}
	var steps []string
	switch {
	case opt.Password != "" && opt.Username != "":
		c.Command("AUTH", opt.Username, opt.Password)
		steps = append(steps, "authenticating as "+strconv.Quote(opt.Username))
	case opt.Password != "":
		c.Command("AUTH", opt.Password)
		steps = append(steps, "authenticating")
	}
	if opt.DB != 0 {
		c.Command("SELECT", opt.DB)
		steps = append(steps, "selecting database "+strconv.Itoa(opt.DB))
	}
	if len(steps) == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return err
	}
	var failed error
	for _, step := range steps {
		reply, err := c.Read()
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		if rerr, ok := reply.(Error); ok && failed == nil {
			failed = fmt.Errorf("%s: %w", step, rerr)
		}
	}
	return failed
}

// Close closes the connection; a Read or Flush in progress returns.
func (c *Conn) Close() error { return c.nc.Close() }

// SetReadDeadline bounds the wait of Read (the zero time: no bound).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Command buffers a command. Arguments are strings, byte slices, integers
// or floats; anything else is written as fmt.Sprint writes it. The
// buffer goes out when full and at Flush; a write error shows at Flush.
func (c *Conn) Command(args ...any) {
	c.num = append(strconv.AppendInt(append(c.num[:0], '*'), int64(len(args)), 10), '\r', '\n')
	_, _ = c.w.Write(c.num)
	for _, a := range args {
		switch v := a.(type) {
		case string:
			c.bulkHead(len(v))
			_, _ = c.w.WriteString(v)
		case []byte:
			c.bulkHead(len(v))
			_, _ = c.w.Write(v)
		case int:
			c.bulkNumber(strconv.AppendInt(nil, int64(v), 10))
		case int64:
			c.bulkNumber(strconv.AppendInt(nil, v, 10))
		case float64:
			c.bulkNumber(strconv.AppendFloat(nil, v, 'f', -1, 64))
		default:
			s := fmt.Sprint(v)
			c.bulkHead(len(s))
			_, _ = c.w.WriteString(s)
		}
		_, _ = c.w.WriteString("\r\n")
	}
}

func (c *Conn) bulkHead(n int) {
	c.num = append(strconv.AppendInt(append(c.num[:0], '$'), int64(n), 10), '\r', '\n')
	_, _ = c.w.Write(c.num)
}

func (c *Conn) bulkNumber(b []byte) {
	c.bulkHead(len(b))
	_, _ = c.w.Write(b)
}

// Flush writes the buffered commands.
func (c *Conn) Flush() error {
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("redispipe: writing: %w", err)
	}
	return nil
}

// Read reads one reply: a string (status or bulk), an int64, an Error,
// nil (a null bulk or array), or a []any of those. The error is the
// connection's, never Redis'.
func (c *Conn) Read() (any, error) {
	reply, err := c.read(0)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("redispipe: reading a reply: %w", err)
	}
	return reply, nil
}

// maxDepth bounds the nesting of arrays in a reply.
const maxDepth = 8

func (c *Conn) read(depth int) (any, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return string(body), nil
	case '-':
		return Error(body), nil
	case ':':
		n, err := strconv.ParseInt(string(body), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed integer reply %q", body)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 || n > 512<<20 {
			return nil, fmt.Errorf("malformed bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 || depth >= maxDepth {
			return nil, fmt.Errorf("malformed array reply %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		out := make([]any, 0, min(n, 1024))
		for range n {
			v, err := c.read(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", kind)
}
