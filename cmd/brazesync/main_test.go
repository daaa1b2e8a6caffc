package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "brazesync-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "brazesync")
	// VCS information is stamped when the tree is a repository with git
	// at hand, whatever GOFLAGS says, so that `version` shows it.
	if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("building brazesync: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var masterKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))

// proc is a brazesync process under test.
type proc struct {
	cmd    *exec.Cmd
	stdout *bufio.Scanner
	stderr *syncBuffer
}

// syncBuffer is a buffer safe for the writer goroutine of exec.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DATA_DIR=" + t.TempDir()}, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: bufio.NewScanner(out), stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return p
}

// terminate sends SIGTERM and returns the exit code.
func (p *proc) terminate(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, readerOf(p.stdout))
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("process did not stop within 30 s of SIGTERM; stderr:\n%s", p.stderr)
		return -1
	}
}

type scannerReader struct{ s *bufio.Scanner }

func (r scannerReader) Read(b []byte) (int, error) {
	if !r.s.Scan() {
		return 0, io.EOF
	}
	return copy(b, r.s.Bytes()), nil
}

func readerOf(s *bufio.Scanner) io.Reader { return scannerReader{s} }

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 20 s", url)
		}
		time.Sleep(50 * time.Millisecond) // polling a server that is starting
	}
}

func TestSubcommandsStopCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	_, url := redistest.DB(t)
	env := []string{"REDIS_URL=" + url, "BRAZESYNC_MASTER_KEY=" + masterKey, "BRAZESYNC_ADMIN_TOKEN=operator-token-0123456789"}
	addr := freeAddr(t)
	api := start(t, append(env, "HTTP_ADDR="+addr), "api")
	waitHTTP(t, "http://"+addr+"/readyz")
	if code := api.terminate(t); code != 0 {
		t.Errorf("api exited %d; stderr:\n%s", code, api.stderr)
	}
	jsonLines(t, "api", api.stderr.String())
	for _, cmd := range []string{"worker", "scheduler", "sftpd"} {
		p := start(t, append(env, "SFTP_ADDR="+freeAddr(t)), cmd)
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(p.stderr.String(), "running") {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not start: %s", cmd, p.stderr)
			}
			time.Sleep(20 * time.Millisecond) // polling the log for the start line
		}
		if code := p.terminate(t); code != 0 {
			t.Errorf("%s exited %d; stderr:\n%s", cmd, code, p.stderr)
		}
		jsonLines(t, cmd, p.stderr.String())
	}
}

// jsonLines decodes every line of a process's stderr as a JSON object and
// fails the test on any other line.
func jsonLines(t *testing.T, process, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if l == "" && stderr == "" {
			break
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("%s wrote a line that is not JSON to stderr: %q", process, l)
			continue
		}
		out = append(out, m)
	}
	return out
}

// TestDevLogsOnlyJSON runs `brazesync dev` with debug logs, stops it with
// SIGTERM, and reads every line it wrote to stderr as JSON: Asynq's lines
// too, with the error it logs about the shared Redis client at debug level.
func TestDevLogsOnlyJSON(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	p := start(t, []string{"HTTP_ADDR=" + addr, "SFTP_ADDR=" + freeAddr(t), "BRAZE_SIM_ADDR=" + freeAddr(t), "LOG_LEVEL=debug"}, "dev")
	deadline := time.AfterFunc(30*time.Second, func() { p.cmd.Process.Kill() })
	defer deadline.Stop()
	running := false
	for !running && p.stdout.Scan() {
		running = strings.Contains(p.stdout.Text(), "NOTHING PERSISTS")
	}
	if !running {
		t.Fatalf("dev did not start; stderr:\n%s", p.stderr)
	}
	waitHTTP(t, "http://"+addr+"/readyz")
	if code := p.terminate(t); code != 0 {
		t.Errorf("dev exited %d; stderr:\n%s", code, p.stderr)
	}
	shared := false
	for _, m := range jsonLines(t, "dev", p.stderr.String()) {
		if msg, _ := m["msg"].(string); strings.Contains(msg, "redis connection is shared") {
			shared = true
			if m["level"] != "DEBUG" || m["component"] != "asynq" {
				t.Errorf("the shared-connection line is %v, want level DEBUG, component asynq", m)
			}
		}
	}
	if !shared {
		t.Errorf("no line about the shared Redis client at debug level; stderr:\n%s", p.stderr)
	}
}

func TestInvalidConfigurationExits2NamingTheVariable(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"REDIS_URL":            {"BRAZESYNC_MASTER_KEY=" + masterKey},
		"BRAZESYNC_MASTER_KEY": {"REDIS_URL=redis://127.0.0.1:6379/0", "BRAZESYNC_MASTER_KEY=nope"},
		"WORKER_CONCURRENCY":   {"REDIS_URL=redis://127.0.0.1:6379/0", "BRAZESYNC_MASTER_KEY=" + masterKey, "WORKER_CONCURRENCY=lots"},
	}
	for name, env := range cases {
		cmd := exec.Command(binary, "worker")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: exit %v", name, err)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], name) {
			t.Errorf("%s: want one line naming it, got %q", name, stderr.String())
		}
	}
}

// TestDevAsANewUser runs `brazesync dev` with no REDIS_URL, as the README
// tells a new user to.
func TestDevAsANewUser(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	p := start(t, []string{"HTTP_ADDR=" + addr, "SFTP_ADDR=" + freeAddr(t)}, "dev")
	var token string
	sawWarning := false
	deadline := time.AfterFunc(30*time.Second, func() { p.cmd.Process.Kill() })
	defer deadline.Stop()
	for p.stdout.Scan() {
		line := p.stdout.Text()
		if f := strings.Fields(line); len(f) == 3 && f[0] == "Admin" && f[1] == "token:" {
			token = f[2]
		}
		if strings.Contains(line, "NOTHING PERSISTS") {
			sawWarning = true
			break
		}
	}
	if token == "" || !sawWarning {
		t.Fatalf("dev did not print the admin token and the warning; stderr:\n%s", p.stderr)
	}
	base := "http://" + addr
	waitHTTP(t, base+"/healthz")
	get := func(tok string) int {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", base+"/monitoring/", nil)
		if tok != "" {
			req.SetBasicAuth("admin", tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(""); c != 401 {
		t.Errorf("/monitoring/ without token: %d", c)
	}
	if c := get("wrong-token-0123456789"); c != 401 {
		t.Errorf("/monitoring/ with a wrong token: %d", c)
	}
	if c := get(token); c != 200 {
		t.Errorf("/monitoring/ with the printed token: %d", c)
	}
	if code := p.terminate(t); code != 0 {
		t.Errorf("dev exited %d; stderr:\n%s", code, p.stderr)
	}
}

// TestEveryWiredRouteIsInTheOpenAPIDocument builds the API as `api` does,
// with every route group, and checks the document describes each route.
func TestEveryWiredRouteIsInTheOpenAPIDocument(t *testing.T) {
	t.Parallel()
	_, url := redistest.DB(t)
	env := map[string]string{"REDIS_URL": url, "BRAZESYNC_MASTER_KEY": masterKey}
	cfg, err := load(func(k string) string { return env[k] }, config.Production)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, newLogger(cfg.LogLevel))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	srv, closeMon, err := a.apiServer()
	if err != nil {
		t.Fatal(err)
	}
	defer closeMon()
	missing, err := api.MissingFromOpenAPI(srv.Router().Patterns())
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("routes missing from the OpenAPI document: %v", missing)
	}
}
