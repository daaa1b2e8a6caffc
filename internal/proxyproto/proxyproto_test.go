package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// v2 builds a version 2 header: command cmd, family/transport byte fam,
// the address block addrs and extra TLV bytes.
func v2(cmd, fam byte, addrs []byte, extra []byte) []byte {
	b := append([]byte{}, v2Signature...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(extra)))
	b = append(b, addrs...)
	return append(b, extra...)
}

func inet4(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func inet6(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

// truncated is a version 2 header whose length promises more bytes than
// the stream holds.
func truncated() []byte {
	b := v2(cmdProxy, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil)
	binary.BigEndian.PutUint16(b[14:16], 1000)
	return b
}

const after = "SSH-2.0-client\r\n"

// TestRead: valid headers give their addresses and leave the stream right
// after them; malformed ones are ErrInvalid; other streams ErrNoHeader
// with nothing consumed.
func TestRead(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      []byte
		src     string // "" for no address
		version int
		err     error
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 51234 2022\r\n"), "203.0.113.7:51234", 1, nil},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 51234 2022\r\n"), "[2001:db8::7]:51234", 1, nil},
		{"v1 tcp6 mapped", []byte("PROXY TCP6 ::ffff:203.0.113.7 ::ffff:10.0.0.1 51234 2022\r\n"), "203.0.113.7:51234", 1, nil},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), "", 1, nil},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), "", 1, nil},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 1, nil},
		{"v1 too long", []byte("PROXY UNKNOWN " + strings.Repeat("x", 100) + "\r\n"), "", 0, ErrInvalid},
		{"v1 no CR", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "", 0, ErrInvalid},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n"), "", 0, ErrInvalid},
		{"v1 mapped in tcp4", []byte("PROXY TCP4 ::ffff:1.2.3.4 10.0.0.1 1 2\r\n"), "", 0, ErrInvalid},
		{"v1 bad port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), "", 0, ErrInvalid},
		{"v1 signed port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), "", 0, ErrInvalid},
		{"v1 leading zero", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), "", 0, ErrInvalid},
		{"v1 missing field", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), "", 0, ErrInvalid},
		{"v1 double space", []byte("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), "", 0, ErrInvalid},
		{"v1 udp", []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), "", 0, ErrInvalid},
		{"v2 inet", v2(cmdProxy, 0x11, inet4("198.51.100.9", "10.0.0.1", 40000, 2022), nil), "198.51.100.9:40000", 2, nil},
		{"v2 inet6", v2(cmdProxy, 0x21, inet6("2001:db8::9", "2001:db8::1", 40000, 2022), nil), "[2001:db8::9]:40000", 2, nil},
		{"v2 inet6 mapped", v2(cmdProxy, 0x21, inet6("::ffff:198.51.100.9", "::ffff:10.0.0.1", 40000, 2022), nil), "198.51.100.9:40000", 2, nil},
		{"v2 with TLVs", v2(cmdProxy, 0x11, inet4("198.51.100.9", "10.0.0.1", 1, 2), []byte{0x04, 0x00, 0x03, 'a', 'b', 'c'}), "198.51.100.9:1", 2, nil},
		{"v2 local", v2(cmdLocal, 0x00, nil, nil), "", 2, nil},
		{"v2 local with addresses", v2(cmdLocal, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil), "", 2, nil},
		{"v2 udp", v2(cmdProxy, 0x12, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil), "", 2, nil},
		{"v2 unix", v2(cmdProxy, 0x31, make([]byte, 216), nil), "", 2, nil},
		{"v2 short block", v2(cmdProxy, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2)[:8], nil), "", 0, ErrInvalid},
		{"v2 bad command", v2(0x5, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil), "", 0, ErrInvalid},
		{"v2 bad family", v2(cmdProxy, 0x41, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil), "", 0, ErrInvalid},
		{"v2 bad version", append(append([]byte{}, v2Signature...), 0x11, 0x11, 0, 0), "", 0, ErrInvalid},
		{"v2 truncated", truncated(), "", 0, io.EOF},
		{"ssh", nil, "", 0, ErrNoHeader},
		{"almost v1", []byte("PROXX "), "", 0, ErrNoHeader},
		{"almost v2", []byte("\r\n\r\nX"), "", 0, ErrNoHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := append(append([]byte{}, c.in...), after...)
			r := bufio.NewReader(bytes.NewReader(in))
			h, err := Read(r)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("Read = %+v, %v; want %v", h, err, c.err)
				}
				if errors.Is(err, ErrNoHeader) {
					if rest, _ := io.ReadAll(r); !bytes.Equal(rest, in) {
						t.Fatalf("ErrNoHeader consumed bytes: %q left", rest)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if h.Version != c.version {
				t.Errorf("version %d, want %d", h.Version, c.version)
			}
			got := ""
			if h.Source.IsValid() {
				got = h.Source.String()
			}
			if got != c.src {
				t.Errorf("source %q, want %q", got, c.src)
			}
			if rest, _ := io.ReadAll(r); string(rest) != after {
				t.Errorf("stream after the header = %q, want %q", rest, after)
			}
		})
	}
}

// TestReadEmptyStream: a peer that closes at once is io.EOF.
func TestReadEmptyStream(t *testing.T) {
	t.Parallel()
	if _, err := Read(bufio.NewReader(bytes.NewReader(nil))); !errors.Is(err, io.EOF) {
		t.Fatalf("Read of nothing = %v", err)
	}
}

// exchange dials a loopback listener, sends payload and returns what the
// server side read through a Conn trusting trusted, its RemoteAddr and the
// read error.
func exchange(t *testing.T, trusted Trusted, payload []byte) (string, net.Addr, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(payload)
		_, _ = io.Copy(io.Discard, c)
	}()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := NewConn(raw, trusted)
	buf := make([]byte, len(after))
	_, err = io.ReadFull(c, buf)
	return string(buf[:]), c.RemoteAddr(), err
}

// TestConn: a trusted peer's header sets RemoteAddr; a trusted peer
// without header and an untrusted peer with one are refused; an untrusted
// peer without header passes through at its own address.
func TestConn(t *testing.T) {
	t.Parallel()
	loopback := Trusted{netip.MustParsePrefix("127.0.0.0/8")}
	other := Trusted{netip.MustParsePrefix("192.0.2.0/24")}
	hdr := []byte("PROXY TCP4 203.0.113.7 10.0.0.1 51234 2022\r\n")

	got, addr, err := exchange(t, loopback, append(hdr, after...))
	if err != nil || got != after || addr.String() != "203.0.113.7:51234" {
		t.Errorf("trusted with v1 header: %q %v %v", got, addr, err)
	}
	got, addr, err = exchange(t, loopback, append(v2(cmdProxy, 0x21, inet6("2001:db8::9", "2001:db8::1", 40000, 2022), nil), after...))
	if err != nil || got != after || addr.String() != "[2001:db8::9]:40000" {
		t.Errorf("trusted with v2 header: %q %v %v", got, addr, err)
	}
	got, addr, err = exchange(t, loopback, append(v2(cmdLocal, 0, nil, nil), after...))
	if err != nil || got != after || !strings.HasPrefix(addr.String(), "127.0.0.1:") {
		t.Errorf("trusted with LOCAL header: %q %v %v", got, addr, err)
	}
	if _, _, err = exchange(t, loopback, []byte(after)); !errors.Is(err, ErrMissing) {
		t.Errorf("trusted without header: %v, want ErrMissing", err)
	}
	if _, _, err = exchange(t, loopback, append([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), after...)); !errors.Is(err, ErrInvalid) {
		t.Errorf("trusted with a malformed header: %v, want ErrInvalid", err)
	}
	if _, addr, err = exchange(t, other, append(hdr, after...)); !errors.Is(err, ErrUntrusted) || addr.String() == "203.0.113.7:51234" {
		t.Errorf("untrusted with v1 header: %v at %v, want ErrUntrusted", err, addr)
	}
	if _, _, err = exchange(t, nil, append(v2(cmdProxy, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil), after...)); !errors.Is(err, ErrUntrusted) {
		t.Errorf("untrusted with v2 header: %v, want ErrUntrusted", err)
	}
	got, addr, err = exchange(t, nil, []byte(after))
	if err != nil || got != after || !strings.HasPrefix(addr.String(), "127.0.0.1:") {
		t.Errorf("untrusted without header: %q %v %v", got, addr, err)
	}
}

// A peer that closes before sending anything, as a health check does, is
// not a PROXY refusal, whether it is trusted or not.
func TestConnClosedBeforeAnyByteIsNoRefusal(t *testing.T) {
	t.Parallel()
	for name, trusted := range map[string]Trusted{"trusted": {netip.MustParsePrefix("127.0.0.0/8")}, "untrusted": nil} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		pc := NewConn(sc, trusted)
		if _, err := pc.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: Read of a closed peer succeeded", name)
		}
		if err := pc.Err(); err != nil {
			t.Errorf("%s: Err() = %v for a peer that sent nothing, want nil", name, err)
		}
		if err := errors.Join(sc.Close(), ln.Close()); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzRead: no input panics Read, and a header it accepts is
// self-delimiting: the bytes it consumed parse alone to the same header.
func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 51234 2022\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(cmdProxy, 0x11, inet4("198.51.100.9", "10.0.0.1", 40000, 2022), nil))
	f.Add(v2(cmdProxy, 0x21, inet6("2001:db8::9", "2001:db8::1", 40000, 2022), []byte{1, 0, 1, 'h'}))
	f.Add(v2(cmdLocal, 0, nil, nil))
	f.Add(truncated())
	f.Add([]byte(after))
	f.Fuzz(func(t *testing.T, in []byte) {
		stream := append(append([]byte{}, in...), after...)
		r := bufio.NewReader(bytes.NewReader(stream))
		h, err := Read(r)
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(r)
		consumed := stream[:len(stream)-len(rest)]
		r2 := bufio.NewReader(bytes.NewReader(consumed))
		h2, err := Read(r2)
		if err != nil || *h2 != *h {
			t.Fatalf("the %d bytes consumed parse alone to %+v, %v; want %+v", len(consumed), h2, err, h)
		}
		if left, _ := io.ReadAll(r2); len(left) != 0 {
			t.Fatalf("%d bytes left after the header alone", len(left))
		}
	})
}
