package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// trustedProxies parses SFTP_TRUSTED_PROXIES: comma-separated addresses
// ("10.0.0.5", "2001:db8::5") and networks ("10.0.0.0/24"); empty for
// none. A network with host bits set ("10.0.0.5/24") is refused: it is
// most likely a typo for one address or for the whole network.
func trustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil || p.Addr().Zone() != "" {
				return nil, &Error{"SFTP_TRUSTED_PROXIES", fmt.Sprintf("%q is not an address or a network such as 10.0.0.0/24", part)}
			}
			if p != p.Masked() {
				return nil, &Error{"SFTP_TRUSTED_PROXIES", fmt.Sprintf("%q has host bits set; write %s for the network or drop the /%d for one address", part, p.Masked(), p.Bits())}
			}
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())))
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil || a.Zone() != "" {
			return nil, &Error{"SFTP_TRUSTED_PROXIES", fmt.Sprintf("%q is not an address or a network such as 10.0.0.0/24", part)}
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 address loses when
// it is unmapped to IPv4.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}
