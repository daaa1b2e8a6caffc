// Package egress decides which network addresses brazesync may connect to
// on a customer's behalf. Customer-supplied destinations (SFTP hosts, Braze
// REST endpoints, notification URLs) are untrusted: by default a connection
// to a loopback, private, link-local (cloud metadata services included),
// shared (CGNAT), unspecified, multicast, broadcast or reserved address is
// refused, in IPv4, IPv6 and the IPv6 forms that embed an IPv4 address. An
// operator's allow list (BRAZESYNC_EGRESS_ALLOW) lets chosen ranges through.
//
// The check runs on the resolved address at dial time, in the net.Dialer's
// control hook, so a host name that resolves (or re-resolves, as in DNS
// rebinding) to a forbidden address is refused before any packet is sent.
// CheckHost checks a literal address early, when a destination is saved.
//
// Destinations the operator configures (the managed SFTP server, Redis) do
// not go through a Policy.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// Code is the stable error code of a refused destination, in API answers
// and job logs.
const Code = "destination_forbidden"

// ErrForbidden matches every *ForbiddenError (errors.Is).
var ErrForbidden = errors.New(Code)

// ForbiddenError is a destination the policy refuses.
type ForbiddenError struct {
	// Dest is the destination as it was given ("host:port" or a host),
	// when known.
	Dest string
	// Addr is the refused address.
	Addr netip.Addr
	// Kind says what the address is, e.g. "a loopback address".
	Kind string
	// Resolved is true when Addr came from resolving a host name in Dest.
	Resolved bool
}

// Error names the destination and the kind of address, and, for a host
// name, not the address it resolved to.
func (e *ForbiddenError) Error() string {
	switch {
	case e.Dest != "" && e.Resolved:
		return fmt.Sprintf("%s: %s resolves to %s, which brazesync does not connect to", Code, e.Dest, e.Kind)
	case e.Dest != "":
		return fmt.Sprintf("%s: %s is %s, which brazesync does not connect to", Code, e.Dest, e.Kind)
	}
	return fmt.Sprintf("%s: %s is %s, which brazesync does not connect to", Code, e.Addr, e.Kind)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Code returns Code.
func (e *ForbiddenError) Code() string { return Code }

// Policy says which addresses may be connected to. The zero value and a nil
// *Policy refuse every forbidden range and allow nothing extra. A Policy is
// immutable and safe for concurrent use.
type Policy struct {
	allow []netip.Prefix
}

// New returns a policy that lets the allow ranges through even where they
// are forbidden by default.
func New(allow ...netip.Prefix) *Policy {
	p := &Policy{}
	for _, a := range allow {
		p.allow = append(p.allow, a.Masked())
	}
	return p
}

// Allowed returns the ranges the policy lets through.
func (p *Policy) Allowed() []netip.Prefix {
	if p == nil {
		return nil
	}
	return append([]netip.Prefix(nil), p.allow...)
}

// Check returns a *ForbiddenError when addr may not be connected to.
func (p *Policy) Check(addr netip.Addr) error {
	addr = addr.WithZone("")
	if p.allows(addr) {
		return nil
	}
	if kind := Classify(addr); kind != "" {
		return &ForbiddenError{Addr: addr, Kind: kind}
	}
	return nil
}

func (p *Policy) allows(addr netip.Addr) bool {
	if p == nil {
		return false
	}
	un := addr.Unmap()
	for _, a := range p.allow {
		if a.Contains(addr) || a.Contains(un) {
			return true
		}
	}
	return false
}

// CheckHost checks a host as it is written in a destination: a literal
// address (IPv4 in any of the forms inet_aton reads, such as 0x7f000001,
// IPv6 with or without brackets or a zone) or a "localhost" name is checked
// now; another host name is left to the dial-time check (nil).
func (p *Policy) CheckHost(host string) error {
	addrs, ok := Literal(host)
	if !ok {
		return nil
	}
	var first error
	for _, a := range addrs {
		err := p.Check(a)
		if err == nil {
			return nil // localhost: one allowed address is enough
		}
		if first == nil {
			first = err
		}
	}
	var fe *ForbiddenError
	if errors.As(first, &fe) {
		fe.Dest = host
	}
	return first
}

// Control has the shape of net.Dialer.ControlContext: it refuses a
// forbidden address after resolution and before the connection is made.
func (p *Policy) Control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address %q", ErrForbidden, address)
	}
	return p.Check(ap.Addr())
}

// Dialer connects only where its policy allows.
type Dialer struct {
	policy *Policy
	d      net.Dialer
}

// Dialer returns a Dialer with base's settings (timeouts, keep-alive) whose
// every connection passes the policy; base's own control hook still runs
// after the policy's.
func (p *Policy) Dialer(base net.Dialer) *Dialer {
	prevCtx, prev := base.ControlContext, base.Control
	base.Control = nil
	base.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := p.Control(ctx, network, address, c); err != nil {
			return err
		}
		switch {
		case prevCtx != nil:
			return prevCtx(ctx, network, address, c)
		case prev != nil:
			return prev(network, address, c)
		}
		return nil
	}
	return &Dialer{policy: p, d: base}
}

// DialContext connects to address ("host:port"). A refusal is a
// *ForbiddenError naming address, not wrapped in a *net.OpError.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		var fe *ForbiddenError
		if errors.As(err, &fe) {
			out := *fe
			out.Dest = address
			host, _, _ := net.SplitHostPort(address)
			_, perr := netip.ParseAddr(strings.Trim(host, "[]"))
			out.Resolved = perr != nil
			return nil, &out
		}
		return nil, err
	}
	return c, nil
}
