package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/poll"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPolicyTable: every forbidden range, in each written form, is refused
// by default; public addresses pass; the allow list lets ranges through.
func TestPolicyTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr string
		kind string // "" = allowed by default
	}{
		// Loopback.
		{"127.0.0.1", "loopback"}, {"127.255.255.254", "loopback"}, {"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"}, {"::ffff:7f00:1", "loopback"}, {"::127.0.0.1", "loopback"},
		{"64:ff9b::127.0.0.1", "loopback"}, {"2002:7f00:1::1", "loopback"},
		// Private.
		{"10.0.0.1", "private"}, {"10.255.255.255", "private"}, {"172.16.0.1", "private"}, {"172.31.255.255", "private"},
		{"192.168.1.1", "private"}, {"::ffff:10.1.2.3", "private"}, {"::ffff:192.168.0.1", "private"},
		{"fc00::1", "private"}, {"fd12:3456::1", "private"}, {"64:ff9b::10.0.0.1", "private"},
		{"64:ff9b:1::1", "NAT64"},
		// Link-local, metadata services.
		{"169.254.169.254", "link-local"}, {"169.254.0.1", "link-local"}, {"::ffff:169.254.169.254", "link-local"},
		{"fe80::1", "link-local"}, {"fe80::1%eth0", "link-local"}, {"febf::1", "link-local"}, {"fec0::1", "site-local"},
		// CGNAT.
		{"100.64.0.1", "CGNAT"}, {"100.127.255.255", "CGNAT"}, {"::ffff:100.64.0.1", "CGNAT"},
		// Unspecified.
		{"0.0.0.0", "unspecified"}, {"0.1.2.3", "unspecified"}, {"::", "unspecified"}, {"::ffff:0.0.0.0", "unspecified"},
		// Multicast, broadcast, reserved.
		{"224.0.0.1", "multicast"}, {"239.255.255.250", "multicast"}, {"ff02::1", "multicast"}, {"ff0e::1", "multicast"},
		{"::ffff:224.0.0.1", "multicast"}, {"255.255.255.255", "broadcast"}, {"240.0.0.1", "reserved"},
		{"::ffff:255.255.255.255", "broadcast"}, {"::2", "unspecified"}, {"::8.8.8.8", "IPv4-compatible"}, {"100::1", "discard"},
		// Public.
		{"8.8.8.8", ""}, {"1.1.1.1", ""}, {"100.63.255.255", ""}, {"100.128.0.0", ""}, {"172.15.255.255", ""},
		{"172.32.0.0", ""}, {"169.253.255.255", ""}, {"11.0.0.1", ""}, {"2001:4860:4860::8888", ""},
		{"::ffff:8.8.8.8", ""}, {"64:ff9b::8.8.8.8", ""}, {"2002:808:808::1", ""}, {"2606:4700::1111", ""},
	}
	var p *Policy // nil: the default policy
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		err := p.Check(a)
		var fe *ForbiddenError
		switch {
		case c.kind == "" && err != nil:
			t.Errorf("%s refused: %v", c.addr, err)
		case c.kind != "" && (!errors.As(err, &fe) || !errors.Is(err, ErrForbidden)):
			t.Errorf("%s allowed, want it refused as %s", c.addr, c.kind)
		case c.kind != "" && !strings.Contains(fe.Kind, c.kind):
			t.Errorf("%s refused as %q, want %q", c.addr, fe.Kind, c.kind)
		}
		if New().Check(a) == nil != (c.kind == "") {
			t.Errorf("%s: an empty allow list differs from the default policy", c.addr)
		}
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	p := New(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.1.2.3/16"))
	for _, ok := range []string{"127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "10.1.0.1", "10.1.255.255"} {
		if err := p.Check(netip.MustParseAddr(ok)); err != nil {
			t.Errorf("%s is in the allow list but refused: %v", ok, err)
		}
	}
	for _, no := range []string{"10.2.0.1", "192.168.0.1", "169.254.169.254", "::2", "fe80::1", "::ffff:10.2.0.1"} {
		if err := p.Check(netip.MustParseAddr(no)); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s is outside the allow list but allowed", no)
		}
	}
	if got := p.Allowed(); len(got) != 3 || got[2].String() != "10.1.0.0/16" {
		t.Errorf("Allowed = %v, want masked prefixes", got)
	}
}

// TestCheckHost: literal hosts in any written form are checked when a
// destination is saved; names are left to the dial.
func TestCheckHost(t *testing.T) {
	t.Parallel()
	var p *Policy
	for _, h := range []string{"127.0.0.1", "[::1]", "::1", "0x7f000001", "2130706433", "0177.0.0.1", "127.1", "0x7f.1",
		"localhost", "LOCALHOST.", "db.localhost", "169.254.169.254", "[::ffff:169.254.169.254]", "0", "fe80::1%25eth0", "[fe80::1%eth0]", "10.0.0.1."} {
		err := p.CheckHost(h)
		var fe *ForbiddenError
		if !errors.As(err, &fe) || fe.Dest != h {
			t.Errorf("CheckHost(%q) = %v, want a *ForbiddenError naming it", h, err)
		}
	}
	for _, h := range []string{"sftp.example.com", "8.8.8.8", "deadbeef", "0xfoo.example", "1e100.net", "2001:4860:4860::8888", "127.0.0.1.nip.io", "256.1.1.1.1"} {
		if err := p.CheckHost(h); err != nil {
			t.Errorf("CheckHost(%q) = %v, want nil", h, err)
		}
	}
	dev := New(netip.MustParsePrefix("127.0.0.0/8"))
	if err := dev.CheckHost("localhost"); err != nil {
		t.Errorf("localhost with 127.0.0.0/8 allowed: %v", err)
	}
}

func TestParseInetAton(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0x7f000001": "127.0.0.1", "2130706433": "127.0.0.1", "0177.0.0.1": "127.0.0.1", "127.1": "127.0.0.1",
		"127.0.1": "127.0.0.1", "0xa9.0xfe.0xa9.0xfe": "169.254.169.254", "10.0x10000": "10.1.0.0", "1.2.3.4": "1.2.3.4",
	} {
		a, ok := parseInetAton(in)
		if !ok || a.String() != want {
			t.Errorf("parseInetAton(%q) = %v, %v; want %s", in, a, ok, want)
		}
	}
	for _, in := range []string{"", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "1.2.65536", "08.0.0.1", "0x", "abc", "1..2", "4294967296"} {
		if a, ok := parseInetAton(in); ok {
			t.Errorf("parseInetAton(%q) = %v, want no address", in, a)
		}
	}
}

// listener counts the connections it accepts.
func listener(t *testing.T, network, addr string) (net.Listener, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return ln, &n
}

// TestDialRefusesANameThatResolvesToLoopback: "localhost" is a name; the
// dial-time check refuses the address it resolves to, before connecting.
func TestDialRefusesANameThatResolvesToLoopback(t *testing.T) {
	t.Parallel()
	ln, accepted := listener(t, "tcp4", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var p *Policy
	for _, dest := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::ffff:127.0.0.1]:" + port} {
		c, err := p.Dialer(net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", dest)
		var fe *ForbiddenError
		if err == nil {
			_ = c.Close()
			t.Fatalf("dial %s connected", dest)
		}
		if !errors.As(err, &fe) || fe.Dest != dest || !strings.Contains(fe.Kind, "loopback") {
			t.Fatalf("dial %s: %v, want a *ForbiddenError naming it", dest, err)
		}
		if wantResolved := strings.HasPrefix(dest, "localhost"); fe.Resolved != wantResolved || strings.Contains(err.Error(), "127.0.0.1") == wantResolved {
			t.Errorf("dial %s: %q (resolved %v): a name's address must not be shown, a literal's is", dest, err, fe.Resolved)
		}
	}
	// Allowed, the same name connects, and the base dialer's hook still runs.
	var hooked atomic.Bool
	base := net.Dialer{Timeout: 5 * time.Second, Control: func(string, string, syscall.RawConn) error { hooked.Store(true); return nil }}
	c, err := New(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")).Dialer(base).DialContext(ctx, "tcp4", "localhost:"+port)
	if err != nil {
		t.Fatalf("dial with loopback allowed: %v", err)
	}
	_ = c.Close()
	if !hooked.Load() {
		t.Error("the base dialer's control hook did not run")
	}
	poll.Until(t, 5*time.Second, "the allowed connection to be accepted", func() bool { return accepted.Load() >= 1 })
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d connections reached the listener, want only the allowed one", n)
	}
}
