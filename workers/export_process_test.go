package workers

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/brazesim"
)

// Tests that run real brazesync processes (worker, scheduler) share one
// binary, built on first use into binDir and removed by TestMain.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "brazesync-workers-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// brazesyncBinary builds cmd/brazesync once (without -race: the processes
// are the system under test, the race detector runs in this process).
func brazesyncBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "brazesync")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/brazesync/brazesync/cmd/brazesync")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
		t.Logf("built brazesync in %s", time.Since(start).Round(time.Millisecond))
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// masterKey is the sealing key shared by the test process and its children.
var masterKey = bytes.Repeat([]byte{7}, 32)

// proc is one brazesync process of a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s: %v", p.name, err)
	}
	<-p.done
}

// stop sends SIGTERM and waits (SIGKILL after 15 s).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// procBundle is an export setup whose workers and scheduler are brazesync
// processes; the test process holds the stores (to load data and create
// jobs) and serves the Braze simulator.
type procBundle struct {
	*exportBundle
	url string
	bin string
}

func setupProcesses(t *testing.T, simOpts brazesim.Options) *procBundle {
	t.Helper()
	bin := brazesyncBinary(t)
	b := setupStores(t, simOpts)
	return &procBundle{exportBundle: b, url: b.url, bin: bin}
}

// start runs `brazesync <role>` against the bundle's Redis. It is stopped
// (SIGTERM) when the test ends; its log is printed if the test failed.
func (pb *procBundle) start(t *testing.T, name, role string, env ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pb.bin, role)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"REDIS_URL=" + pb.url,
		"BRAZESYNC_MASTER_KEY=" + base64.StdEncoding.EncodeToString(masterKey),
		"BRAZESYNC_ALLOW_INSECURE_ENDPOINTS=true",
		"BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS=true",
		"BRAZESYNC_EGRESS_ALLOW=127.0.0.0/8,::1/128",
		"LOG_LEVEL=warn",
		"SHUTDOWN_TIMEOUT=5s",
		"DATA_DIR=" + t.TempDir(),
	}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			printTail(t, p)
		}
	})
	return p
}

func printTail(t *testing.T, p *proc) {
	f, err := os.Open(p.log)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 40 {
			lines = lines[1:]
		}
	}
	var ee *exec.ExitError
	status := "running"
	if errors.As(p.err, &ee) {
		status = ee.String()
	}
	t.Logf("--- %s (pid %d, %s): last lines of its log", p.name, p.pid(), status)
	for _, l := range lines {
		t.Log(l)
	}
}
