package egress

import (
	"net/netip"
	"strconv"
	"strings"
)

// kindRange is a forbidden range and what its addresses are.
type kindRange struct {
	prefix netip.Prefix
	kind   string
}

func r(prefix, kind string) kindRange { return kindRange{netip.MustParsePrefix(prefix), kind} }

// v4Forbidden are the IPv4 ranges refused by default.
var v4Forbidden = []kindRange{
	r("0.0.0.0/8", "an unspecified (this-network) address"),
	r("10.0.0.0/8", "a private address"),
	r("100.64.0.0/10", "a shared (CGNAT) address"),
	r("127.0.0.0/8", "a loopback address"),
	r("169.254.0.0/16", "a link-local address"),
	r("172.16.0.0/12", "a private address"),
	r("192.0.0.0/24", "an IETF protocol address"),
	r("192.168.0.0/16", "a private address"),
	r("198.18.0.0/15", "a benchmarking address"),
	r("224.0.0.0/4", "a multicast address"),
	r("240.0.0.0/4", "a reserved or broadcast address"),
}

// v6Forbidden are the IPv6 ranges refused by default; the ranges that embed
// an IPv4 address are handled in Classify.
var v6Forbidden = []kindRange{
	r("::/128", "an unspecified address"),
	r("::1/128", "a loopback address"),
	r("64:ff9b:1::/48", "a local-use NAT64 address"),
	r("100::/64", "a discard-only address"),
	r("fc00::/7", "a private (unique local) address"),
	r("fe80::/10", "a link-local address"),
	r("fec0::/10", "a site-local address"),
	r("ff00::/8", "a multicast address"),
}

var (
	// v4Compatible is the deprecated IPv4-compatible form ::a.b.c.d.
	v4Compatible = netip.MustParsePrefix("::/96")
	// nat64 is the well-known NAT64 prefix, 64:ff9b::a.b.c.d.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// sixToFour is 6to4, 2002:aabb:ccdd::/48 for a.b.c.d.
	sixToFour = netip.MustParsePrefix("2002::/16")
)

func classify4(a netip.Addr) string {
	for _, fr := range v4Forbidden {
		if fr.prefix.Contains(a) {
			return fr.kind
		}
	}
	return ""
}

// Classify returns what kind of forbidden address addr is ("a loopback
// address", ...), or "" when it may be connected to by default. IPv4-mapped
// (::ffff:a.b.c.d), IPv4-compatible, NAT64 and 6to4 addresses are judged by
// the IPv4 address they carry.
func Classify(addr netip.Addr) string {
	addr = addr.WithZone("")
	switch {
	case !addr.IsValid():
		return "an invalid address"
	case addr.Is4():
		return classify4(addr)
	case addr.Is4In6():
		return classify4(addr.Unmap())
	}
	for _, fr := range v6Forbidden {
		if fr.prefix.Contains(addr) {
			return fr.kind
		}
	}
	b := addr.As16()
	switch {
	case v4Compatible.Contains(addr):
		if k := classify4(netip.AddrFrom4([4]byte(b[12:16]))); k != "" {
			return k
		}
		return "a deprecated IPv4-compatible address"
	case nat64.Contains(addr):
		return classify4(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(addr):
		return classify4(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return ""
}

// Literal reads host as an address: an IPv4 or IPv6 literal (brackets and
// a zone allowed), an IPv4 address in a form inet_aton reads (0x7f000001,
// 2130706433, 0177.0.0.1, 127.1), or "localhost" (and names under it,
// which always mean the loopback addresses). ok is false for a host name.
func Literal(host string) (addrs []netip.Addr, ok bool) {
	h := strings.ToLower(strings.TrimSpace(host))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h = strings.TrimSuffix(h, ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}, true
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return []netip.Addr{a}, true
	}
	if a, ok := parseInetAton(h); ok {
		return []netip.Addr{a}, true
	}
	return nil, false
}

// parseInetAton reads the IPv4 forms of inet_aton(3): one to four parts,
// each decimal, octal (leading 0) or hexadecimal (0x), the last filling the
// remaining bytes.
func parseInetAton(s string) (netip.Addr, bool) {
	if s == "" || strings.Trim(s, "0123456789abcdefx.") != "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		n, ok := parseAtonPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, false
			}
			v |= n << (8 * uint(3-i))
			continue
		}
		bits := 8 * uint(4-i)
		if n >= 1<<bits {
			return netip.Addr{}, false
		}
		v |= n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseAtonPart(p string) (uint64, bool) {
	base, digits := 10, p
	switch {
	case strings.HasPrefix(p, "0x"):
		base, digits = 16, p[2:]
	case len(p) > 1 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	if digits == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, base, 32)
	return n, err == nil
}
