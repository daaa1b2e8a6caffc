package sftpd

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"
)

func tryPassword(t *testing.T, srv *Server, username, password string) error {
	t.Helper()
	conn, err := dialSSH(t, srv, username, ssh.Password(password))
	if err == nil {
		_ = conn.Close()
	}
	return err
}

// failPasswords tries n wrong passwords for username, on each of servers
// in turn, and fails the test if one is accepted.
func failPasswords(t *testing.T, username string, n int, servers ...*Server) {
	t.Helper()
	for i := range n {
		if err := tryPassword(t, servers[i%len(servers)], username, "wrong-password-"+strconv.Itoa(i)); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestWrongPasswordUntilLockout: failures lock the username's password
// logins from that address out, the right password is then refused too, on
// this replica and on another one sharing Redis, while its key still logs
// in; the lockout is counted.
func TestWrongPasswordUntilLockout(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) {
		c.MaxUserFailures = 3
		c.MaxAddrFailures = 100
		c.Lockout = time.Minute
	})
	other := b.start(t) // a second replica on the same Redis
	u := newUser(t, srv, "acct-lock")

	if err := tryPassword(t, srv, u.username, u.password); err != nil {
		t.Fatalf("right password before any failure: %v", err)
	}
	failPasswords(t, u.username, 3, srv)
	if err := tryPassword(t, srv, u.username, u.password); err == nil {
		t.Fatal("right password accepted while locked out")
	}
	if err := tryPassword(t, other, u.username, u.password); err == nil {
		t.Fatal("second replica accepted the right password while locked out")
	}
	// A key cannot be guessed: the lockout never shuts out its holder.
	conn, err := dialSSH(t, other, u.username, ssh.PublicKeys(u.signer))
	if err != nil {
		t.Fatalf("public key refused while the password is locked out: %v", err)
	}
	_ = conn.Close()
	if got := counterValue(t, b.reg, "brazesync_sftpd_lockouts_total", map[string]string{"scope": "user_address"}); got != 1 {
		t.Errorf("lockouts_total{scope=user_address} = %v, want 1", got)
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_login_failures_total",
		map[string]string{"method": "password", "reason": "bad_credentials"}); got != 3 {
		t.Errorf("login_failures_total{bad_credentials} = %v, want 3", got)
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_login_failures_total",
		map[string]string{"method": "password", "reason": "locked"}); got != 1 {
		t.Errorf("login_failures_total{locked} on the first replica = %v, want 1", got)
	}
	// Another user from the same address is not affected by a user lockout.
	v := newUser(t, srv, "acct-lock")
	if err := tryPassword(t, other, v.username, v.password); err != nil {
		t.Errorf("another user refused: %v", err)
	}
}

// TestFailuresOnTwoReplicasAddUp: failures counted on two replicas lock the
// user out together.
func TestFailuresOnTwoReplicasAddUp(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) {
		c.MaxUserFailures = 4
		c.MaxAddrFailures = 100
	})
	other := b.start(t)
	u := newUser(t, srv, "acct-shared")
	failPasswords(t, u.username, 4, srv, other)
	if err := tryPassword(t, srv, u.username, u.password); err == nil {
		t.Fatal("4 failures over two replicas did not lock the user out")
	}
}

// TestAddressLockout: guessing over unknown usernames locks the address
// out for unknown usernames only: a user that exists still logs in from it.
func TestAddressLockout(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) {
		c.MaxUserFailures = 100
		c.MaxAddrFailures = 3
	})
	u := newUser(t, srv, "acct-addr")
	for _, name := range []string{"nobody-1", "nobody-2", "acct-addr-zzzzzz"} {
		if err := tryPassword(t, srv, name, "guess-guess-guess"); err == nil {
			t.Fatal("unknown user accepted")
		}
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_lockouts_total", map[string]string{"scope": "address"}); got != 1 {
		t.Fatalf("lockouts_total{scope=address} = %v, want 1", got)
	}
	_ = tryPassword(t, srv, "nobody-3", "guess-guess-guess")
	if got := counterValue(t, b.reg, "brazesync_sftpd_login_failures_total", map[string]string{"method": "password", "reason": "locked"}); got != 1 {
		t.Errorf("an unknown user from the locked address: login_failures_total{locked} = %v, want 1", got)
	}
	if err := tryPassword(t, srv, u.username, u.password); err != nil {
		t.Fatalf("a known user was shut out by the address lockout: %v", err)
	}
}

// TestLockoutEnds: once Lockout has passed, the right password works again.
func TestLockoutEnds(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t, func(c *Config) {
		c.MaxUserFailures = 2
		c.Lockout = 300 * time.Millisecond
	})
	u := newUser(t, srv, "acct-ends")
	for range 2 {
		_ = tryPassword(t, srv, u.username, "not-the-password")
	}
	if err := tryPassword(t, srv, u.username, u.password); err == nil {
		t.Fatal("not locked out")
	}
	poll.Until(t, 5*time.Second, "login after lockout", func() bool {
		return tryPassword(t, srv, u.username, u.password) == nil
	})
}

// TestFailureDelayGrows: the delay doubles per failure up to the cap, and
// the server really waits that long before refusing.
func TestFailureDelayGrows(t *testing.T) {
	t.Parallel()
	base, capDelay := 100*time.Millisecond, 700*time.Millisecond
	want := []time.Duration{100, 200, 400, 700, 700}
	for i, w := range want {
		if got := failureDelay(base, capDelay, int64(i+1)); got != w*time.Millisecond {
			t.Errorf("failureDelay after %d failures = %s, want %s", i+1, got, w*time.Millisecond)
		}
	}

	srv, _ := setup(t, func(c *Config) {
		c.FailureDelay = 150 * time.Millisecond
		c.MaxFailureDelay = time.Second
		c.MaxUserFailures = 10
	})
	u := newUser(t, srv, "acct-delay")
	var took []time.Duration
	for range 3 {
		start := time.Now()
		_ = tryPassword(t, srv, u.username, "wrong-wrong-wrong")
		took = append(took, time.Since(start))
	}
	if took[0] < 150*time.Millisecond || took[2] < 600*time.Millisecond {
		t.Errorf("refusals took %v; want at least 150ms then 600ms", took)
	}
}

// TestMetricsRegistered: the collectors land on the injected registry.
func TestMetricsRegistered(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, nil)
	u := newUser(t, srv, "acct-metrics")
	if err := tryPassword(t, srv, u.username, u.password); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_logins_total", map[string]string{"method": "password"}); got != 1 {
		t.Errorf("logins_total{password} = %v, want 1", got)
	}
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"brazesync_sftpd_logins_total", "brazesync_sftpd_connections_total", "brazesync_sftpd_sessions"} {
		if !names[want] {
			t.Errorf("metric %s not registered", want)
		}
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_lockouts_total", nil); got != 0 {
		t.Errorf("lockouts counted without a lockout: %v", got)
	}
}

// TestLogsCarryNoSecrets: logins, failures and lockouts are logged, and no
// password appears in the logs.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) { c.MaxUserFailures = 2 })
	u := newUser(t, srv, "acct-logs")
	if err := tryPassword(t, srv, u.username, u.password); err != nil {
		t.Fatal(err)
	}
	const wrong = "wrong-secret-guess-123"
	for range 2 {
		_ = tryPassword(t, srv, u.username, wrong)
	}
	logs := b.logs.String()
	for _, want := range []string{`"msg":"sftp login"`, `"msg":"sftp login refused"`, `"msg":"sftp login locked out"`, `"component":"sftpd"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	for _, secret := range []string{u.password, wrong} {
		if strings.Contains(logs, secret) {
			t.Errorf("a password appears in the logs")
		}
	}
}

// TestOnRedisCluster runs two replicas on a three-node Redis Cluster, where
// the host key, the username index and the failure counters (global keys)
// live in other slots than the accounts' users: both replicas serve the
// same host key and users, an upload lands, and failures on one replica
// lock the user out on the other.
func TestOnRedisCluster(t *testing.T) {
	t.Parallel()
	srv, b := setupOn(t, redistest.Cluster(t, 3), keyspace.Namespace("t"+redistest.RandomID()), func(c *Config) {
		c.MaxUserFailures = 2
		c.MaxAddrFailures = 100
		c.Lockout = time.Minute
	})
	other := b.start(t)
	u := newUser(t, srv, "acct-cluster")
	putFile(t, u.keyClient(t, other), "/in.csv", []byte("a,b\n1,2\n"))
	if ev := b.waitUpload(t, 5*time.Second); ev.path != "/in.csv" || ev.account != "acct-cluster" {
		t.Errorf("upload hook: %+v", ev)
	}
	failPasswords(t, u.username, 2, srv)
	if err := tryPassword(t, other, u.username, u.password); err == nil {
		t.Fatal("the other replica accepted the right password while locked out")
	}
	if err := srv.Users().DeleteUser(t.Context(), u.account, u.username); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := srv.Users().LookupUser(t.Context(), u.username); err == nil {
		t.Error("a deleted user is still found")
	}
}
