package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"REDIS_URL": "redis://x:6379", "BRAZESYNC_MASTER_KEY": key}), Production)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != HTTPAddrDefault || c.WorkerConcurrency != WorkerConcurrencyDefault || c.AllowInsecureEndpoints {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if len(c.MasterKeys) != 1 || len(c.MasterKeys[0]) != 32 {
		t.Fatalf("master key not decoded")
	}
	if c.ImportRejectedRetention != ImportRejectedRetentionDefault {
		t.Fatalf("rejected rows retention %s", c.ImportRejectedRetention)
	}
	c, err = Load(env(map[string]string{"REDIS_URL": "redis://x:6379", "BRAZESYNC_MASTER_KEY": key, "IMPORT_REJECTED_RETENTION": "48h"}), Production)
	if err != nil || c.ImportRejectedRetention != 48*time.Hour {
		t.Fatalf("IMPORT_REJECTED_RETENTION=48h: %v %v", c, err)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	base := map[string]string{"REDIS_URL": "redis://x", "BRAZESYNC_MASTER_KEY": key}
	cases := map[string]map[string]string{
		"REDIS_URL":                              {"REDIS_URL": ""},
		"BRAZESYNC_MASTER_KEY":                   {"BRAZESYNC_MASTER_KEY": "short"},
		"WORKER_CONCURRENCY":                     {"WORKER_CONCURRENCY": "0"},
		"LOG_LEVEL":                              {"LOG_LEVEL": "loud"},
		"SHUTDOWN_TIMEOUT":                       {"SHUTDOWN_TIMEOUT": "soon"},
		"BRAZESYNC_ADMIN_TOKEN":                  {"BRAZESYNC_ADMIN_TOKEN": "abc"},
		"BRAZESYNC_MONITOR_TOKEN":                {"BRAZESYNC_MONITOR_TOKEN": "abc"},
		"BRAZESYNC_ALLOW_INSECURE_ENDPOINTS":     {"BRAZESYNC_ALLOW_INSECURE_ENDPOINTS": "maybe"},
		"BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS": {"BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS": "sometimes"},
		"BRAZESYNC_EGRESS_ALLOW":                 {"BRAZESYNC_EGRESS_ALLOW": "10.0.0.0/8,intranet"},
		"IMPORT_REJECTED_RETENTION":              {"IMPORT_REJECTED_RETENTION": "30s"},
	}
	for name, over := range cases {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range over {
			m[k] = v
		}
		_, err := Load(env(m), Production)
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != name || !strings.HasPrefix(err.Error(), name+": ") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestLoadMonitorToken(t *testing.T) {
	t.Parallel()
	m := map[string]string{"REDIS_URL": "redis://x", "BRAZESYNC_MASTER_KEY": key,
		"BRAZESYNC_ADMIN_TOKEN": "operator-token-0123456789", "BRAZESYNC_MONITOR_TOKEN": "monitor-token-0123456789"}
	c, err := Load(env(m), Production)
	if err != nil {
		t.Fatal(err)
	}
	if c.MonitorToken != "monitor-token-0123456789" {
		t.Fatalf("MonitorToken = %q, want the variable's value", c.MonitorToken)
	}
	m["BRAZESYNC_MONITOR_TOKEN"] = m["BRAZESYNC_ADMIN_TOKEN"]
	var ce *Error
	if _, err := Load(env(m), Production); !errors.As(err, &ce) || ce.Var != "BRAZESYNC_MONITOR_TOKEN" {
		t.Fatalf("a monitor token equal to the admin token: %v", err)
	}
}

func TestLogLevelAlone(t *testing.T) {
	t.Parallel()
	if l, err := LogLevel(env(map[string]string{"LOG_LEVEL": "debug"})); err != nil || l != slog.LevelDebug {
		t.Errorf("LOG_LEVEL=debug: %v, %v", l, err)
	}
	if l, err := LogLevel(env(nil)); err != nil || l != slog.LevelInfo {
		t.Errorf("LOG_LEVEL unset: %v, %v", l, err)
	}
	var ce *Error
	if _, err := LogLevel(env(map[string]string{"LOG_LEVEL": "loud"})); !errors.As(err, &ce) || ce.Var != "LOG_LEVEL" {
		t.Errorf("LOG_LEVEL=loud: %v", err)
	}
}

func TestDevNeedsNoRedisOrKey(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil), Dev)
	if err != nil {
		t.Fatal(err)
	}
	if !c.AllowInsecureEndpoints || !c.AllowCustomBrazeEndpoints {
		t.Fatal("dev should allow insecure and custom Braze endpoints by default")
	}
	if got := fmt.Sprint(c.EgressAllow); got != "[127.0.0.0/8 ::1/128]" {
		t.Fatalf("dev egress allow list: %s", got)
	}
}

// TestEgressAllow: CIDRs and bare addresses, masked; production allows
// nothing extra by default, and neither insecure nor custom endpoints.
func TestEgressAllow(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"REDIS_URL": "redis://x", "BRAZESYNC_MASTER_KEY": key}), Production)
	if err != nil || len(c.EgressAllow) != 0 || c.AllowCustomBrazeEndpoints || c.AllowInsecureEndpoints {
		t.Fatalf("production defaults: %+v %v", c, err)
	}
	c, err = Load(env(map[string]string{"REDIS_URL": "redis://x", "BRAZESYNC_MASTER_KEY": key,
		"BRAZESYNC_EGRESS_ALLOW": " 10.1.2.3/16, 192.168.7.7 ,fd00::/8,", "BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS": "true"}), Production)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.EgressAllow); got != "[10.1.0.0/16 192.168.7.7/32 fd00::/8]" || !c.AllowCustomBrazeEndpoints {
		t.Fatalf("egress allow list: %s, custom %v", got, c.AllowCustomBrazeEndpoints)
	}
	// In dev the variable replaces the default.
	c, err = Load(env(map[string]string{"BRAZESYNC_EGRESS_ALLOW": "172.16.0.0/12"}), Dev)
	if err != nil || fmt.Sprint(c.EgressAllow) != "[172.16.0.0/12]" {
		t.Fatalf("dev with BRAZESYNC_EGRESS_ALLOW: %v %v", c.EgressAllow, err)
	}
}
