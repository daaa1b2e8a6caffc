package sftpd

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{DataDir: "/data"}.WithDefaults()
	if c.Addr != ":2022" || c.HandshakeTimeout != 2*time.Minute || c.QuotaBytes != QuotaBytesDefault ||
		c.MaxUserFailures != MaxUserFailuresDefault || c.Lockout != LockoutDefault {
		t.Errorf("defaults not applied: %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	t.Parallel()
	for field, modify := range map[string]func(*Config){
		"DataDir":          func(c *Config) { c.DataDir = "" },
		"HandshakeTimeout": func(c *Config) { c.HandshakeTimeout = time.Millisecond },
		"QuotaBytes":       func(c *Config) { c.QuotaBytes = -1 },
		"QuotaFiles":       func(c *Config) { c.QuotaFiles = -5 },
		"MaxUserFailures":  func(c *Config) { c.MaxUserFailures = -1 },
		"MaxAddrFailures":  func(c *Config) { c.MaxAddrFailures = -1 },
		"MaxFailureDelay":  func(c *Config) { c.FailureDelay = time.Second; c.MaxFailureDelay = time.Millisecond },
		"BcryptCost":       func(c *Config) { c.BcryptCost = 99 },
		"Lockout":          func(c *Config) { c.Lockout = -time.Second },
	} {
		c := Config{DataDir: "/data"}
		modify(&c)
		err := c.WithDefaults().validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: validate() = %v, want an error naming the field", field, err)
		}
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	if _, err := NewServer(nil, "bs", Config{}, Options{}); err == nil || !strings.Contains(err.Error(), "DataDir") {
		t.Errorf("NewServer without DataDir: %v", err)
	}
}
