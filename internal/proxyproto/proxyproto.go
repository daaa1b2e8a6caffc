// Package proxyproto reads the PROXY protocol header (version 1, text, and
// version 2, binary) that TCP load balancers such as HAProxy or a cloud
// network load balancer put before a forwarded stream to name the client's
// real address.
//
// Conn applies a trust decision to one accepted connection: a header is
// read only from a trusted peer (a configured load balancer) and required
// from it; a header from any other peer is refused, so that no client can
// choose the address it is seen at.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Errors callers branch on.
var (
	// ErrNoHeader: the stream does not start with a PROXY header.
	ErrNoHeader = errors.New("proxyproto: no PROXY header")
	// ErrInvalid: the stream starts like a PROXY header that is malformed.
	ErrInvalid = errors.New("proxyproto: invalid PROXY header")
)

// v1Prefix starts a version 1 header; v2Signature starts a version 2 one.
var (
	v1Prefix    = []byte("PROXY ")
	v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// maxV1Length is the longest version 1 header, CRLF included.
const maxV1Length = 107

// Header is a parsed PROXY header. Source and Dest are invalid when the
// header names no address: version 1 UNKNOWN, version 2 LOCAL (the load
// balancer's own health check), or an address family other than TCP over
// IPv4 or IPv6; the connection's own addresses then apply.
type Header struct {
	Version int
	Source  netip.AddrPort
	Dest    netip.AddrPort
}

// Read reads one PROXY header from r. It returns ErrNoHeader, having
// consumed nothing, when the stream does not start with a header; and an
// error wrapping ErrInvalid for a malformed one. It reads no byte past the
// header.
func Read(r *bufio.Reader) (*Header, error) {
	v, err := detect(r)
	if err != nil {
		return nil, err
	}
	if v == 1 {
		return readV1(r)
	}
	return readV2(r)
}

// detect peeks at the first bytes of r and returns the header version, or
// ErrNoHeader as soon as a byte departs from both signatures (one byte for
// an SSH, TLS or HTTP client).
func detect(r *bufio.Reader) (int, error) {
	for n := 1; ; n++ {
		b, err := r.Peek(n)
		if err != nil {
			if len(b) == 0 && errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("proxyproto: reading the start of the stream: %w", err)
		}
		v1 := n <= len(v1Prefix) && bytes.Equal(b, v1Prefix[:n])
		v2 := n <= len(v2Signature) && bytes.Equal(b, v2Signature[:n])
		switch {
		case v1 && n == len(v1Prefix):
			return 1, nil
		case v2 && n == len(v2Signature):
			return 2, nil
		case !v1 && !v2:
			return 0, ErrNoHeader
		}
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// readV1 reads "PROXY TCP4 src dst sport dport\r\n" (or TCP6, or UNKNOWN
// with anything up to the CRLF).
func readV1(r *bufio.Reader) (*Header, error) {
	line := make([]byte, 0, maxV1Length)
	for {
		c, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("proxyproto: reading a version 1 header: %w", err)
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
		if len(line) >= maxV1Length {
			return nil, invalid("version 1 header longer than %d bytes", maxV1Length)
		}
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return nil, invalid("version 1 header does not end with CRLF")
	}
	fields := strings.Split(string(line[len(v1Prefix):len(line)-2]), " ")
	h := &Header{Version: 1}
	switch fields[0] {
	case "UNKNOWN":
		return h, nil
	case "TCP4", "TCP6":
	default:
		return nil, invalid("version 1 protocol %q is not TCP4, TCP6 or UNKNOWN", fields[0])
	}
	if len(fields) != 5 {
		return nil, invalid("version 1 header has %d fields, want 6", len(fields)+1)
	}
	var addrs [2]netip.Addr
	for i := range addrs {
		a, err := netip.ParseAddr(fields[1+i])
		if err != nil || a.Zone() != "" || a.Is4() != (fields[0] == "TCP4") {
			return nil, invalid("version 1 address %q is not an %s address", fields[1+i], fields[0])
		}
		addrs[i] = a
	}
	var ports [2]uint16
	for i := range ports {
		p, err := parsePort(fields[3+i])
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	// An IPv4-mapped TCP6 address is the IPv4 client it maps, as in
	// version 2, so that one client is one address.
	h.Source = netip.AddrPortFrom(addrs[0].Unmap(), ports[0])
	h.Dest = netip.AddrPortFrom(addrs[1].Unmap(), ports[1])
	return h, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, invalid("version 1 port %q is not a number from 0 to 65535", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, invalid("version 1 port %q is not a number from 0 to 65535", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, invalid("version 1 port %q is not a number from 0 to 65535", s)
	}
	return uint16(n), nil
}

// Version 2 commands, address families and transports.
const (
	cmdLocal    = 0x0
	cmdProxy    = 0x1
	famUnspec   = 0x0
	famInet     = 0x1
	famInet6    = 0x2
	famUnix     = 0x3
	transStream = 0x1
)

// readV2 reads the 16-byte fixed part and the address block of a version 2
// header; TLVs after the addresses are skipped without being buffered.
func readV2(r *bufio.Reader) (*Header, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, fmt.Errorf("proxyproto: reading a version 2 header: %w", err)
	}
	verCmd, fam := fixed[12], fixed[13]
	length := int(binary.BigEndian.Uint16(fixed[14:16]))
	if verCmd>>4 != 2 {
		return nil, invalid("version 2 header has version %d", verCmd>>4)
	}
	cmd := verCmd & 0x0f
	if cmd != cmdLocal && cmd != cmdProxy {
		return nil, invalid("version 2 command %d is not LOCAL or PROXY", cmd)
	}
	family, transport := fam>>4, fam&0x0f
	var addrLen int
	switch family {
	case famUnspec:
	case famInet:
		addrLen = 12
	case famInet6:
		addrLen = 36
	case famUnix:
		addrLen = 216
	default:
		return nil, invalid("version 2 address family %d is unknown", family)
	}
	if length < addrLen {
		return nil, invalid("version 2 address block of %d bytes is shorter than its family's %d", length, addrLen)
	}
	var addrs [216]byte
	if _, err := io.ReadFull(r, addrs[:addrLen]); err != nil {
		return nil, fmt.Errorf("proxyproto: reading a version 2 address block: %w", err)
	}
	if _, err := r.Discard(length - addrLen); err != nil {
		return nil, fmt.Errorf("proxyproto: reading version 2 extensions: %w", err)
	}
	h := &Header{Version: 2}
	if cmd == cmdLocal || transport != transStream {
		return h, nil
	}
	switch family {
	case famInet:
		src := netip.AddrFrom4([4]byte(addrs[0:4]))
		dst := netip.AddrFrom4([4]byte(addrs[4:8]))
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(addrs[8:10]))
		h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(addrs[10:12]))
	case famInet6:
		src := netip.AddrFrom16([16]byte(addrs[0:16])).Unmap()
		dst := netip.AddrFrom16([16]byte(addrs[16:32])).Unmap()
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(addrs[32:34]))
		h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(addrs[34:36]))
	}
	return h, nil
}

// Trusted is a set of peers whose PROXY headers are believed: addresses
// and networks of the load balancers in front of a server.
type Trusted []netip.Prefix

// Contains reports whether addr (a TCP peer address) is trusted.
func (t Trusted) Contains(addr net.Addr) bool {
	if len(t) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range t {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
