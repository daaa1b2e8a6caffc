package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode names how brazesync runs under a scenario.
type Mode string

const (
	// Dev is `brazesync dev` with no REDIS_URL: the embedded Redis.
	Dev Mode = "dev"
	// Procs is one process per Procfile line plus the Braze simulator, on
	// the real Redis (a leased database of it).
	Procs Mode = "redis"
)

// Env is a running brazesync, reached as its users reach it.
type Env struct {
	Mode  Mode
	API   string // http://127.0.0.1:port
	Admin string // the operator token
	// Monitor is the read-only operator token (BRAZESYNC_MONITOR_TOKEN).
	Monitor string
	Sim     string // the Braze simulator, http://127.0.0.1:port
	// SFTPAddr is the managed SFTP server, 127.0.0.1:port.
	SFTPAddr string
	// RedisURL is the real Redis database in Procs mode, "" in Dev mode.
	RedisURL string
	// DataDir is the processes' DATA_DIR.
	DataDir string
	// Banner is what `brazesync dev` printed on stdout (Dev mode).
	Banner string

	dir   string
	procs []*Proc
}

// Proc is one brazesync process.
type Proc struct {
	Name   string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{}
	err    error // set when exited is closed
}

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Stdout returns what the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to d for the process to exit and returns its exit status
// (-1 when it was killed by a signal), or an error when it is still running.
func (p *Proc) Wait(d time.Duration) (int, error) {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(d):
		return 0, fmt.Errorf("%s still running after %s", p.Name, d)
	}
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// binary is the brazesync binary built once by TestMain.
var binary string

// sharedEnvs are the environments scenarios share, one per mode, started
// on first use and stopped by TestMain. Scenarios on a shared environment
// isolate themselves with their own account, API key and file names.
var sharedEnvs = struct {
	sync.Mutex
	envs map[Mode]*sharedEnv
}{envs: map[Mode]*sharedEnv{}}

type sharedEnv struct {
	once sync.Once
	env  *Env
	err  error
	stop func()
}

// Modes are the modes every scenario runs in.
var Modes = []Mode{Dev, Procs}

// eachMode runs scenario as a parallel subtest in each mode, on that mode's
// shared environment.
func eachMode(t *testing.T, scenario func(t *testing.T, e *Env)) {
	t.Helper()
	t.Parallel()
	for _, m := range Modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			scenario(t, shared(t, m))
		})
	}
}

// eachModeOwn runs scenario in each mode on an environment of its own, for
// scenarios that signal, stop or reconfigure processes.
func eachModeOwn(t *testing.T, opts Options, scenario func(t *testing.T, e *Env)) {
	t.Helper()
	t.Parallel()
	for _, m := range Modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			scenario(t, Start(t, m, opts))
		})
	}
}

// shared returns the shared environment of mode m, starting it once.
func shared(t *testing.T, m Mode) *Env {
	t.Helper()
	sharedEnvs.Lock()
	s := sharedEnvs.envs[m]
	if s == nil {
		s = &sharedEnv{}
		sharedEnvs.envs[m] = s
	}
	sharedEnvs.Unlock()
	s.once.Do(func() {
		dir, err := os.MkdirTemp("", "brazesync-e2e-"+string(m)+"-")
		if err != nil {
			s.err = err
			return
		}
		var cleanups []func()
		s.env, s.err = start(m, dir, Options{}, func(f func()) { cleanups = append(cleanups, f) })
		s.stop = func() {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
			if os.Getenv("E2E_KEEP") == "" {
				_ = os.RemoveAll(dir)
			}
		}
	})
	if s.err != nil {
		t.Fatalf("starting the shared %s environment: %v", m, s.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the shared %s environment:\n%s", m, s.env.logs())
		}
	})
	return s.env
}

// stopShared stops every shared environment.
func stopShared() {
	sharedEnvs.Lock()
	defer sharedEnvs.Unlock()
	for _, s := range sharedEnvs.envs {
		if s.stop != nil {
			s.stop()
		}
	}
}

// Options change how an environment starts.
type Options struct {
	// Env adds variables to every process.
	Env map[string]string
	// Workers is the number of worker processes in Procs mode (default 2).
	Workers int
}

// Start starts an environment of its own for the test, stopped when the
// test ends.
func Start(t *testing.T, m Mode, opts Options) *Env {
	t.Helper()
	dir := t.TempDir()
	e, err := start(m, dir, opts, t.Cleanup)
	if err != nil {
		t.Fatalf("starting brazesync (%s): %v", m, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs())
		}
	})
	return e
}

func start(m Mode, dir string, opts Options, cleanup func(func())) (*Env, error) {
	e := &Env{Mode: m, dir: dir, DataDir: filepath.Join(dir, "data")}
	cleanup(e.stopAll)
	switch m {
	case Dev:
		return e, e.startDev(opts)
	case Procs:
		return e, e.startProcs(opts, cleanup)
	}
	return nil, fmt.Errorf("unknown mode %q", m)
}

// baseEnv is the environment every process starts from: not the test's
// own (a REDIS_URL there must not reach `brazesync dev`).
func baseEnv(extra map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

var (
	bannerToken   = regexp.MustCompile(`Admin token:\s+(\S+)`)
	bannerExports = regexp.MustCompile(`(?m)^\s*(export API=.*)\n`)
)

// Exports is the line of the dev banner that sets the variables the
// README's examples use (API, T, S), as a user pastes it.
func (e *Env) Exports() string {
	m := bannerExports.FindStringSubmatch(e.Banner)
	if m == nil {
		return ""
	}
	return m[1]
}

func (e *Env) startDev(opts Options) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	e.API = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	e.SFTPAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	e.Sim = "http://127.0.0.1:" + strconv.Itoa(ports[2])
	e.Monitor = "bsmon_" + randomHex(16)
	registerContract(e.API)
	vars := merge(map[string]string{
		"BRAZESYNC_MONITOR_TOKEN": e.Monitor,
		"HTTP_ADDR":               "127.0.0.1:" + strconv.Itoa(ports[0]),
		"SFTP_ADDR":               e.SFTPAddr,
		"BRAZE_SIM_ADDR":          "127.0.0.1:" + strconv.Itoa(ports[2]),
		"DATA_DIR":                e.DataDir,
	}, opts.Env)
	p, err := e.spawn("dev", vars, "dev")
	if err != nil {
		return err
	}
	// The banner ends with the line that exports the README's variables.
	if err := waitFor(60*time.Second, p, "the dev banner", func() bool {
		return bannerExports.MatchString(p.Stdout())
	}); err != nil {
		return err
	}
	e.Banner = p.Stdout()
	mt := bannerToken.FindStringSubmatch(e.Banner)
	if mt == nil {
		return fmt.Errorf("no admin token in the dev banner:\n%s", e.Banner)
	}
	e.Admin = mt[1]
	return e.waitHTTP(p, e.API+"/healthz")
}

func (e *Env) startProcs(opts Options, cleanup func(func())) error {
	url, release, err := leaseDB()
	if err != nil {
		return err
	}
	cleanup(release)
	e.RedisURL = url
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	e.API = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	e.SFTPAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	e.Sim = "http://127.0.0.1:" + strconv.Itoa(ports[2])
	e.Admin = "bsop_" + randomHex(16)
	e.Monitor = "bsmon_" + randomHex(16)
	registerContract(e.API)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	vars := merge(map[string]string{
		"REDIS_URL":                              url,
		"BRAZESYNC_MASTER_KEY":                   base64.StdEncoding.EncodeToString(key),
		"BRAZESYNC_ADMIN_TOKEN":                  e.Admin,
		"BRAZESYNC_MONITOR_TOKEN":                e.Monitor,
		"HTTP_ADDR":                              "127.0.0.1:" + strconv.Itoa(ports[0]),
		"SFTP_ADDR":                              e.SFTPAddr,
		"SFTP_PUBLIC_HOST":                       e.SFTPAddr,
		"DATA_DIR":                               e.DataDir,
		"BRAZESYNC_ALLOW_INSECURE_ENDPOINTS":     "true",
		"BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS": "true",
		"BRAZESYNC_EGRESS_ALLOW":                 "127.0.0.0/8,::1/128",
		"SHUTDOWN_TIMEOUT":                       "10s",
	}, opts.Env)
	sim, err := e.spawn("braze-sim", vars, "braze-sim", "--addr", "127.0.0.1:"+strconv.Itoa(ports[2]))
	if err != nil {
		return err
	}
	api, err := e.spawn("api", vars, "api")
	if err != nil {
		return err
	}
	workers := opts.Workers
	if workers == 0 {
		workers = 2
	}
	var ws []*Proc
	for i := range workers {
		w, err := e.spawn("worker-"+strconv.Itoa(i+1), vars, "worker")
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	sched, err := e.spawn("scheduler", vars, "scheduler")
	if err != nil {
		return err
	}
	sftpd, err := e.spawn("sftpd", vars, "sftpd")
	if err != nil {
		return err
	}
	if err := e.waitHTTP(sim, e.Sim+"/_sim/stats"); err != nil {
		return err
	}
	if err := e.waitHTTP(api, e.API+"/healthz"); err != nil {
		return err
	}
	for _, w := range ws {
		if err := waitFor(60*time.Second, w, "the worker to run", func() bool {
			return strings.Contains(w.Stderr(), `"msg":"worker running"`)
		}); err != nil {
			return err
		}
	}
	if err := waitFor(60*time.Second, sched, "the scheduler to run", func() bool {
		return strings.Contains(sched.Stderr(), `"msg":"scheduler running"`)
	}); err != nil {
		return err
	}
	return waitFor(60*time.Second, sftpd, "sftpd to listen", func() bool {
		c, err := net.DialTimeout("tcp", e.SFTPAddr, time.Second)
		if err != nil {
			return false
		}
		return c.Close() == nil
	})
}

// spawn starts `brazesync args...` with vars as its whole environment.
func (e *Env) spawn(name string, vars map[string]string, args ...string) (*Proc, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = baseEnv(vars)
	cmd.Dir = e.dir
	p := &Proc{Name: name, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	// Pdeathsig: the process dies with the test binary even when it crashes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting brazesync %s: %w", strings.Join(args, " "), err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	e.procs = append(e.procs, p)
	return p, nil
}

// Proc returns the process named name (e.g. "api", "worker-1", "dev").
func (e *Env) Proc(name string) *Proc {
	for _, p := range e.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Spawn starts another brazesync process in the environment, with the
// environment of its other processes plus extra (Procs mode).
func (e *Env) Spawn(t *testing.T, name string, extra map[string]string, args ...string) *Proc {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range e.procs[0].cmd.Env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	p, err := e.spawn(name, merge(vars, extra), args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stopAll stops every process with SIGTERM, then SIGKILL after 15 s.
func (e *Env) stopAll() {
	for _, p := range e.procs {
		if p.Running() {
			_ = p.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range e.procs {
		if _, err := p.Wait(15 * time.Second); err != nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
}

// logs returns the tail of every process' output.
func (e *Env) logs() string {
	var b strings.Builder
	for _, p := range e.procs {
		fmt.Fprintf(&b, "--- %s stdout:\n%s\n--- %s stderr:\n%s\n", p.Name, tail(p.Stdout(), 3000), p.Name, tail(p.Stderr(), 8000))
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func (e *Env) waitHTTP(p *Proc, url string) error {
	return waitFor(60*time.Second, p, url+" to answer", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitFor polls cond until it holds, p exits or d passes.
func waitFor(d time.Duration, p *Proc, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return nil
		}
		if !p.Running() {
			return fmt.Errorf("%s exited (%v) while waiting for %s:\n%s", p.Name, p.err, what, tail(p.Stderr(), 4000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s:\n%s", d, what, tail(p.Stderr(), 4000))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition the process gives no signal for
	}
}

// freePorts returns n free loopback ports for processes to listen on.
// They are drawn from below the kernel's ephemeral range (Linux's starts
// at 32768): a port the kernel picked for a listener on :0 is free again
// once it is closed, and any outgoing connection of a parallel test (a
// Redis client's, an HTTP client's) may take it before the process binds.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 {
			return nil, fmt.Errorf("no free loopback port between %d and %d", portsFrom, portsTo)
		}
		port := portsFrom + mrand.IntN(portsTo-portsFrom)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // in use
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// The ports freePorts draws from.
const (
	portsFrom = 20000
	portsTo   = 32000
)

// redisURL is the real Redis the Procs mode uses: REDIS_URL, or the local
// default.
func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// leaseDB leases a whole database (1..15) of the real Redis, flushed, with
// the same lease keys as the unit tests' helper, so that parallel test
// binaries never share one. release flushes it and gives it back.
func leaseDB() (url string, release func(), err error) {
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		return "", nil, fmt.Errorf("parsing REDIS_URL: %w", err)
	}
	ctrl := redis.NewClient(opt)
	ctx := context.Background()
	owner := randomHex(6)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		for n := 1; n <= 15; n++ {
			key := "redistest:lease:" + strconv.Itoa(n)
			ok, err := ctrl.SetNX(ctx, key, owner, 30*time.Minute).Result()
			if err != nil {
				ctrl.Close()
				return "", nil, fmt.Errorf("leasing a Redis database: %w", err)
			}
			if !ok {
				continue
			}
			o := *opt
			o.DB = n
			db := redis.NewClient(&o)
			if err := db.FlushDB(ctx).Err(); err != nil {
				return "", nil, fmt.Errorf("flushing database %d: %w", n, err)
			}
			u := fmt.Sprintf("redis://%s/%d", o.Addr, n)
			if o.Password != "" {
				u = fmt.Sprintf("redis://:%s@%s/%d", o.Password, o.Addr, n)
			}
			return u, func() {
				if err := db.FlushDB(ctx).Err(); err != nil {
					fmt.Fprintf(os.Stderr, "e2e: flushing database %d: %v\n", n, err)
				}
				db.Close()
				if v, _ := ctrl.Get(ctx, key).Result(); v == owner {
					ctrl.Del(ctx, key)
				}
				ctrl.Close()
			}, nil
		}
		if time.Now().After(deadline) {
			ctrl.Close()
			return "", nil, fmt.Errorf("no free Redis database after 5 minutes")
		}
		time.Sleep(100 * time.Millisecond) // waiting for another test binary to release a lease
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for a process' writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines returns the complete lines written so far.
func (b *syncBuffer) Lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
