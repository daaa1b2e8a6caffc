package sftpd

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// dialFrom logs in to srv from the loopback address local (127.0.0.0/8
// holds many), as a client behind that address would.
func dialFrom(t testing.TB, srv *Server, local, username string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatalf("dialing from %s: %v", local, err)
	}
	return handshake(t, srv, conn, username, auth...)
}

// handshake runs an SSH client login over conn.
func handshake(t testing.TB, srv *Server, conn net.Conn, username string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, chans, reqs, err := ssh.NewClientConn(conn, srv.Addr().String(), &ssh.ClientConfig{
		User:            username,
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
	})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// loginFrom reports whether username logs in from local with auth.
func loginFrom(t testing.TB, srv *Server, local, username string, auth ssh.AuthMethod) error {
	t.Helper()
	c, err := dialFrom(t, srv, local, username, auth)
	if err == nil {
		_ = c.Close()
	}
	return err
}

// openSSHKeyLogin uploads a file as u with OpenSSH's sftp client bound to
// the address local, logging in with u's key.
func openSSHKeyLogin(t *testing.T, srv *Server, u testUser, local string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Skip("OpenSSH sftp client not installed")
	}
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	cmd := exec.CommandContext(t.Context(), "sftp", "-b", "-", "-P", port, "-F", "/dev/null",
		"-o", "BindAddress="+local,
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts(t, srv),
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-i", u.keyFile,
		u.username+"@127.0.0.1")
	cmd.Stdin = strings.NewReader("ls\n")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestTenantCannotLockOutOthers: a client of tenant A, behind the address
// that every customer and the workers share (a TCP load balancer), guesses
// unknown usernames and tenant B's password well past every limit. B's
// password from another address, B's and A's keys (the workers' login)
// from the shared address, and another user's password from the shared
// address all still log in; only B's password from the guessing address
// and unknown usernames from it are locked.
func TestTenantCannotLockOutOthers(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) {
		c.MaxUserFailures = 5
		c.MaxUserGlobalFailures = 50
		c.MaxAddrFailures = 20
		c.Lockout = time.Minute
	})
	a := newUser(t, srv, "tenant-a")
	bUser := newUser(t, srv, "tenant-b")
	c := newUser(t, srv, "tenant-c")
	const shared, elsewhere = "127.0.0.2", "127.0.0.3"

	for i := range 25 {
		if err := loginFrom(t, srv, shared, "nobody-"+strconv.Itoa(i), ssh.Password("guess-guess-guess")); err == nil {
			t.Fatal("unknown user accepted")
		}
	}
	for i := range 10 {
		if err := loginFrom(t, srv, shared, bUser.username, ssh.Password(fmt.Sprintf("wrong-%d-guess", i))); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if err := loginFrom(t, srv, shared, bUser.username, ssh.Password(bUser.password)); err == nil {
		t.Error("B's password from the guessing address was not locked out")
	}
	if err := loginFrom(t, srv, shared, "nobody-x", ssh.Password("guess-guess-guess")); err == nil {
		t.Error("unknown user accepted")
	}
	if err := loginFrom(t, srv, elsewhere, bUser.username, ssh.Password(bUser.password)); err != nil {
		t.Errorf("B's password from another address: %v", err)
	}
	if err := loginFrom(t, srv, shared, c.username, ssh.Password(c.password)); err != nil {
		t.Errorf("another tenant's password from the shared address: %v", err)
	}
	for _, u := range []testUser{a, bUser} {
		if out, err := openSSHKeyLogin(t, srv, u, shared); err != nil {
			t.Errorf("key login of %s (the workers' login) from the shared address: %v\n%s", u.account, err, out)
		}
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_lockouts_total", map[string]string{"scope": "user"}); got != 0 {
		t.Errorf("one address locked B out everywhere: lockouts_total{scope=user} = %v", got)
	}
	// Locked attempts were not counted: one address adds at most
	// MaxUserFailures to B's global counter.
	if n, err := srv.rdb.HGet(t.Context(), srv.keys.failUser(bUser.username), "count").Int(); err != nil || n != 5 {
		t.Errorf("B's global failure count = %d (%v), want 5", n, err)
	}
}

// TestGlobalUserLockout: a guess spread over several addresses locks the
// username's password logins everywhere once MaxUserGlobalFailures are
// reached, while its key still logs in.
func TestGlobalUserLockout(t *testing.T) {
	t.Parallel()
	srv, b := setup(t, func(c *Config) {
		c.MaxUserFailures = 3
		c.MaxUserGlobalFailures = 6
		c.MaxAddrFailures = 100
		c.Lockout = time.Minute
	})
	u := newUser(t, srv, "acct-spread")
	for _, from := range []string{"127.0.0.4", "127.0.0.5"} {
		for i := range 4 {
			_ = loginFrom(t, srv, from, u.username, ssh.Password("wrong-password-"+strconv.Itoa(i)))
		}
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_lockouts_total", map[string]string{"scope": "user"}); got != 1 {
		t.Fatalf("lockouts_total{scope=user} = %v, want 1", got)
	}
	if err := loginFrom(t, srv, "127.0.0.6", u.username, ssh.Password(u.password)); err == nil {
		t.Error("password accepted from a third address while the user is locked out everywhere")
	}
	if err := loginFrom(t, srv, "127.0.0.6", u.username, sshKey(u)); err != nil {
		t.Errorf("key refused while the password is locked out: %v", err)
	}
}

// viaProxy connects to srv as a load balancer at lb would, sending a PROXY
// header that names client (version 1 or 2), and logs in over it.
func viaProxy(t testing.TB, srv *Server, lb string, version int, client, username string, auth ssh.AuthMethod) error {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(lb)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if version > 0 {
		if _, err := conn.Write(proxyHeader(t, version, client, srv.Addr().String())); err != nil {
			t.Fatal(err)
		}
	}
	c, err := handshake(t, srv, conn, username, auth)
	if err == nil {
		_ = c.Close()
	}
	return err
}

func proxyHeader(t testing.TB, version int, client, dst string) []byte {
	t.Helper()
	src := netip.MustParseAddrPort(client + ":40000")
	d := netip.MustParseAddrPort(dst)
	if version == 1 {
		return fmt.Appendf(nil, "PROXY TCP4 %s %s %d %d\r\n", src.Addr(), d.Addr(), src.Port(), d.Port())
	}
	h := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	s4, d4 := src.Addr().As4(), d.Addr().As4()
	h = append(h, s4[:]...)
	h = append(h, d4[:]...)
	return append(h, byte(src.Port()>>8), byte(src.Port()), byte(d.Port()>>8), byte(d.Port()))
}

// TestProxyProtocol: behind a trusted load balancer, lockouts and logs see
// each client's own address from its PROXY header (v1 and v2), so one
// client's failures do not lock out another behind the same balancer. A
// header from a peer that is not trusted, and a trusted peer without a
// header, are refused.
func TestProxyProtocol(t *testing.T) {
	t.Parallel()
	const lb, direct = "127.0.0.7", "127.0.0.8"
	srv, b := setup(t, func(c *Config) {
		c.MaxUserFailures = 3
		c.Lockout = time.Minute
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(lb + "/32")}
	})
	u := newUser(t, srv, "acct-proxy")
	for i := range 4 {
		if err := viaProxy(t, srv, lb, 1+i%2, "203.0.113.7", u.username, ssh.Password("wrong-"+strconv.Itoa(i))); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if err := viaProxy(t, srv, lb, 2, "203.0.113.7", u.username, ssh.Password(u.password)); err == nil {
		t.Error("the guessing client was not locked out")
	}
	for v := 1; v <= 2; v++ {
		if err := viaProxy(t, srv, lb, v, "203.0.113.8", u.username, ssh.Password(u.password)); err != nil {
			t.Errorf("another client behind the balancer (v%d): %v", v, err)
		}
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `"remote_ip":"203.0.113.7"`) || !strings.Contains(logs, `"remote_ip":"203.0.113.8"`) {
		t.Errorf("logs do not show the clients' addresses:\n%s", logs)
	}
	if err := viaProxy(t, srv, lb, 0, "", u.username, ssh.Password(u.password)); err == nil {
		t.Error("a trusted balancer without PROXY header was accepted")
	}
	if err := viaProxy(t, srv, direct, 1, "203.0.113.9", u.username, ssh.Password(u.password)); err == nil {
		t.Error("a PROXY v1 header from a peer that is not trusted was accepted")
	}
	if err := viaProxy(t, srv, direct, 2, "203.0.113.9", u.username, ssh.Password(u.password)); err == nil {
		t.Error("a PROXY v2 header from a peer that is not trusted was accepted")
	}
	if err := viaProxy(t, srv, direct, 0, "", u.username, ssh.Password(u.password)); err != nil {
		t.Errorf("a direct client without header: %v", err)
	}
	if got := counterValue(t, b.reg, "brazesync_sftpd_proxy_refused_total", nil); got != 3 {
		t.Errorf("proxy_refused_total = %v, want 3", got)
	}
	if out, err := openSSHKeyLogin(t, srv, u, direct); err != nil {
		t.Errorf("OpenSSH key login direct: %v\n%s", err, out)
	}
}
