package config

import (
	"errors"
	"net/netip"
	"testing"
)

// TestTrustedProxies: addresses and networks, spaces and empty items, and
// clear errors naming the variable.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	base := map[string]string{"REDIS_URL": "redis://x", "BRAZESYNC_MASTER_KEY": key}
	load := func(v string) (*Config, error) {
		m := map[string]string{"SFTP_TRUSTED_PROXIES": v}
		for k, val := range base {
			m[k] = val
		}
		return Load(env(m), Production)
	}
	c, err := load(" 10.0.0.5, 192.168.0.0/16,2001:db8::/32,,::ffff:10.1.0.0/112 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("10.1.0.0/16"),
	}
	if len(c.SFTPTrustedProxies) != len(want) {
		t.Fatalf("SFTPTrustedProxies = %v, want %v", c.SFTPTrustedProxies, want)
	}
	for i := range want {
		if c.SFTPTrustedProxies[i] != want[i] {
			t.Errorf("SFTPTrustedProxies[%d] = %v, want %v", i, c.SFTPTrustedProxies[i], want[i])
		}
	}
	if c, err := load(""); err != nil || len(c.SFTPTrustedProxies) != 0 {
		t.Fatalf("unset: %v %v", c.SFTPTrustedProxies, err)
	}
	for _, bad := range []string{"lb.internal", "10.0.0.5/24", "10.0.0.0/33", "fe80::1%eth0", "10.0.0.1:2022"} {
		_, err := load(bad)
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != "SFTP_TRUSTED_PROXIES" {
			t.Errorf("%q: %v, want an error naming SFTP_TRUSTED_PROXIES", bad, err)
		}
	}
}
