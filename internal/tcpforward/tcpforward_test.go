package tcpforward_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/brazesync/brazesync/internal/tcpforward"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer answers every connection with what it reads, until the test
// ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Error(err)
		}
		<-done
	})
	return ln.Addr().String()
}

func copyPump(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
}

func TestForwarderPassesBytesBothWays(t *testing.T) {
	t.Parallel()
	f, err := tcpforward.Listen(echoServer(t), copyPump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := net.Dial("tcp", f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := []byte("hello through the forwarder")
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echo through the forwarder: got %q, want %q", got, want)
	}
}

func TestCloseEndsOpenConnections(t *testing.T) {
	t.Parallel()
	f, err := tcpforward.Listen(echoServer(t), copyPump)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := []byte{1}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	f.Close() // returns once both pumps have
	if _, err := io.ReadFull(c, b); err == nil {
		t.Fatal("read after Close: want an error, the forwarder closed the connection")
	}
	f.Close() // a second Close is a no-op
}
