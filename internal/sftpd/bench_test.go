package sftpd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/poll"
	"golang.org/x/crypto/ssh"
)

// The end-to-end upload benchmark. It runs only with SFTPD_BENCH=1 (and
// needs OpenSSH's sftp client and sshd, and root for sshd):
//
//	SFTPD_BENCH=1 go test -run TestBenchUpload -v -timeout 20m ./internal/sftpd/
//
// SFTPD_BENCH_MB sets the size of the big file (default 200) and
// SFTPD_BENCH_CLIENTS the number of concurrent clients (default 50).
//
//  1. One file uploaded with OpenSSH's sftp to this server and to OpenSSH's
//     own sshd (internal-sftp) in the same run: MB/s of each and the ratio.
//  2. Many OpenSSH sftp clients uploading 2 MB files at once: every file
//     checked by SHA-256, total time.
func TestBenchUpload(t *testing.T) {
	if os.Getenv("SFTPD_BENCH") != "1" {
		t.Skip("set SFTPD_BENCH=1 to run the upload benchmark")
	}
	for _, bin := range []string{"sftp", "ssh-keygen", "/usr/sbin/sshd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	sizeMB := envInt(t, "SFTPD_BENCH_MB", 200)
	clients := envInt(t, "SFTPD_BENCH_CLIENTS", 50)

	srv, b := setup(t, func(c *Config) {
		c.QuotaBytes = 1 << 40
		c.MaxAddrFailures = 1000
		if v := os.Getenv("SFTPD_BENCH_CIPHERS"); v != "" {
			c.Ciphers = strings.Split(v, ",")
		}
	})
	drained := make(chan struct{})
	go func() { // the hook channel is small; drain it
		for {
			select {
			case <-b.uploads:
			case <-drained:
				return
			}
		}
	}()
	defer close(drained)
	work := t.TempDir()
	big := filepath.Join(work, "big.bin")
	bigSum := writeRandomFile(t, big, int64(sizeMB)<<20)

	// OpenSSH's sshd, as root, with internal-sftp.
	sshdDir := filepath.Join(b.dataDir, "sshd-target")
	if err := os.MkdirAll(sshdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	u := newUser(t, srv, "acct-bench")
	sshdPort, sshdPID := startSSHD(t, u)

	var serverCPU time.Duration // this process's CPU time during our uploads
	ours := func() time.Duration {
		cpu0, start := processCPU(), time.Now()
		out, err := runOpenSSH(t, srv, u, work, "put big.bin big.bin\n")
		if err != nil {
			t.Fatalf("upload to brazesync sftpd: %v\n%s", err, out)
		}
		serverCPU += processCPU() - cpu0
		return time.Since(start)
	}
	var sshdCPU time.Duration // sshd's reaped children's CPU time during its uploads
	theirs := func() time.Duration {
		cpu0 := childrenCPU(t, sshdPID)
		defer func() {
			// A child's time is counted once sshd has reaped it.
			poll.Until(t, 10*time.Second, "sshd reaped its session", func() bool {
				kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", sshdPID, sshdPID))
				return err == nil && strings.TrimSpace(string(kids)) == ""
			})
			sshdCPU += childrenCPU(t, sshdPID) - cpu0
		}()
		start := time.Now()
		out, err := runOpenSSHPort(t, sshdPort, knownHostsFile(t, sshdPort, sshdHostKey(t)), "root", u.keyFile, work,
			"put big.bin "+filepath.Join(sshdDir, "big.bin")+"\n")
		if err != nil {
			t.Fatalf("upload to OpenSSH sshd: %v\n%s", err, out)
		}
		return time.Since(start)
	}
	// Alternate, best of five each, so that both see the same machine; the
	// median of the per-pair ratios is less sensitive to other load.
	const runs = 5
	var bestOurs, bestTheirs time.Duration
	var ratios []float64
	for i := range runs {
		o, th := ours(), theirs()
		if i == 0 || o < bestOurs {
			bestOurs = o
		}
		if i == 0 || th < bestTheirs {
			bestTheirs = th
		}
		ratios = append(ratios, th.Seconds()/o.Seconds())
		t.Logf("run %d: brazesync %.1f MB/s, OpenSSH %.1f MB/s", i+1, mbps(sizeMB, o), mbps(sizeMB, th))
	}
	slices.Sort(ratios)
	if got := fileSum(t, filepath.Join(u.dir(t, srv), "big.bin")); got != bigSum {
		t.Fatal("big file on brazesync sftpd differs from the source")
	}
	if got := fileSum(t, filepath.Join(sshdDir, "big.bin")); got != bigSum {
		t.Fatal("big file on OpenSSH sshd differs from the source")
	}
	ratio := bestTheirs.Seconds() / bestOurs.Seconds()
	t.Logf("BENCH %d MB upload (best of %d): brazesync %.1f MB/s, OpenSSH sshd %.1f MB/s, ratio %.2f, median per-run ratio %.2f (target >= 0.8); CPU per upload: brazesync %s, sshd %s",
		sizeMB, runs, mbps(sizeMB, bestOurs), mbps(sizeMB, bestTheirs), ratio, ratios[len(ratios)/2],
		(serverCPU / runs).Round(time.Millisecond), (sshdCPU / runs).Round(time.Millisecond))

	// Concurrent clients, one user each, 2 MB files.
	users := make([]testUser, clients)
	sums := make([]string, clients)
	for i := range users {
		users[i] = newUser(t, srv, "acct-bench-"+strconv.Itoa(i%5))
		sums[i] = writeRandomFile(t, filepath.Join(work, fmt.Sprintf("small-%d.bin", i)), 2<<20)
	}
	var wg sync.WaitGroup
	errs := make([]error, clients)
	start := time.Now()
	for i := range users {
		wg.Go(func() {
			out, err := runOpenSSH(t, srv, users[i], work, fmt.Sprintf("put small-%d.bin upload.bin\n", i))
			if err != nil {
				errs[i] = fmt.Errorf("client %d: %v: %s", i, err, out)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range users {
		if got := fileSum(t, filepath.Join(u.dir(t, srv), "upload.bin")); got != sums[i] {
			t.Fatalf("client %d: uploaded file differs from the source", i)
		}
	}
	t.Logf("BENCH %d concurrent clients x 2 MB: all %d files intact (sha256), total %s (%.1f MB/s aggregate)",
		clients, clients, elapsed.Round(time.Millisecond), mbps(2*clients, elapsed))
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mbps(mb int, d time.Duration) float64 { return float64(mb) / d.Seconds() }

func writeRandomFile(t *testing.T, name string, size int64) string {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func fileSum(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

var sshdKeys struct {
	sync.Mutex
	pub string
}

func sshdHostKey(t *testing.T) string {
	sshdKeys.Lock()
	defer sshdKeys.Unlock()
	return sshdKeys.pub
}

// startSSHD starts OpenSSH's sshd on a free port with its own host key,
// u's key authorized for root, and internal-sftp. It is stopped at cleanup.
func startSSHD(t *testing.T, u testUser) (port string, pid int) {
	t.Helper()
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	sshdKeys.Lock()
	sshdKeys.pub = strings.TrimSpace(string(pub))
	sshdKeys.Unlock()
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(u.signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	config := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(config, []byte(strings.Join([]string{
		"Port " + port,
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authorized,
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"PidFile none",
		"Subsystem sftp internal-sftp",
	}, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "/usr/sbin/sshd", "-D", "-e", "-f", config)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting sshd: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	poll.Until(t, 10*time.Second, "sshd listening", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
	return port, cmd.Process.Pid
}

// childrenCPU is the CPU time of pid's waited-for children (sshd forks one
// per connection; its time is added here once the child is reaped).
func childrenCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name "(...)": cutime and cstime are the
	// 14th and 15th of them (fields 16 and 17 of the whole line).
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 15 {
		return 0
	}
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(cu+cs) * time.Second / clkTck
}

func knownHostsFile(t *testing.T, port, hostKey string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, []byte(fmt.Sprintf("[127.0.0.1]:%s %s\n", port, hostKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
