package config

import (
	"errors"
	"testing"
	"time"
)

func TestLoadSFTPD(t *testing.T) {
	t.Parallel()
	c, err := LoadSFTPD(env(map[string]string{"SFTP_QUOTA_BYTES": "1048576", "SFTP_QUOTA_FILES": "10", "SFTP_MAX_USER_FAILURES": "3",
		"SFTP_MAX_USER_GLOBAL_FAILURES": "30", "SFTP_MAX_ADDR_FAILURES": "9", "SFTP_FAILURE_WINDOW": "5m", "SFTP_LOCKOUT": "1h", "SFTP_METRICS_ADDR": "127.0.0.1:9200"}))
	if err != nil || c.QuotaBytes != 1<<20 || c.QuotaFiles != 10 || c.MaxUserFailures != 3 || c.MaxUserGlobalFailures != 30 || c.MaxAddrFailures != 9 ||
		c.FailureWindow != 5*time.Minute || c.Lockout != time.Hour || c.MetricsAddr != "127.0.0.1:9200" {
		t.Fatalf("config %+v, err %v", c, err)
	}
	if c, err := LoadSFTPD(env(nil)); err != nil || *c != (SFTPD{}) {
		t.Fatalf("unset: %+v %v, want the server's defaults (zero)", c, err)
	}
	for name, v := range map[string]string{"SFTP_QUOTA_BYTES": "-1", "SFTP_QUOTA_FILES": "x", "SFTP_MAX_USER_FAILURES": "many",
		"SFTP_MAX_USER_GLOBAL_FAILURES": "0", "SFTP_MAX_ADDR_FAILURES": "2000000", "SFTP_FAILURE_WINDOW": "soon", "SFTP_LOCKOUT": "10ms"} {
		_, err := LoadSFTPD(env(map[string]string{name: v}))
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != name {
			t.Errorf("%s=%s: err %v, want a config error naming it", name, v, err)
		}
	}
}

func TestManagedEndpoint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		public, addr, host string
		port               int
		bad                string
	}{
		{"", ":2022", "127.0.0.1", 2022, ""},
		{"sftp.example.com", "0.0.0.0:2222", "sftp.example.com", 2222, ""},
		{"sftp.example.com:22", ":2022", "sftp.example.com", 22, ""},
		{"[2001:db8::1]:22", ":2022", "2001:db8::1", 22, ""},
		{"2001:db8::1", ":2022", "2001:db8::1", 2022, ""},
		{"[2001:db8::1]", ":2022", "2001:db8::1", 2022, ""},
		{"user@host", ":2022", "", 0, "SFTP_PUBLIC_HOST"},
		{"host:99999", ":2022", "", 0, "SFTP_PUBLIC_HOST"},
		{"", ":0", "", 0, "SFTP_PUBLIC_HOST"},
		{"", "nowhere", "", 0, "SFTP_ADDR"},
	}
	for _, c := range cases {
		host, port, err := (&Config{SFTPPublicHost: c.public, SFTPAddr: c.addr}).ManagedEndpoint()
		var ce *Error
		if (c.bad != "") != (err != nil) || (err != nil && (!errors.As(err, &ce) || ce.Var != c.bad)) || host != c.host || port != c.port {
			t.Errorf("ManagedEndpoint(%q, %q) = %q, %d, %v", c.public, c.addr, host, port, err)
		}
	}
}
