package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brazesync/brazesync/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// proc is a brazesync process started by the benchmark.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(bin, dir, name, role string, env []string) (*proc, error) {
	return startProcArgs(bin, dir, name, []string{role}, env)
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cpuSeconds is the process's user+system CPU time from /proc/<pid>/stat.
func (p *proc) cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces
	f := bytes.Fields(b[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(string(f[11]), 64)
	st, _ := strconv.ParseFloat(string(f[12]), 64)
	return (ut + st) / 100 // USER_HZ
}

// buildBinary builds cmd/brazesync into dir, with pprof listeners when
// pprof is true.
func buildBinary(dir string, pprof bool) (string, error) {
	bin := filepath.Join(dir, "brazesync")
	args := []string{"build", "-o", bin}
	if pprof {
		args = append(args, "-tags", "pprof") // cmd/brazesync/pprof.go: the workers' profiles
	}
	out, err := exec.Command("go", append(args, "github.com/brazesync/brazesync/cmd/brazesync")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// leaseDB takes a Redis database the way the tests' redistest.DB does (a
// lease key in database 0), so that the benchmark never shares a database
// with a test run. It returns the database number and a release function.
func leaseDB(ctx context.Context, base *redis.Options) (int, func(), error) {
	ctrl := redis.NewClient(base)
	owner := "benchexport-" + strconv.Itoa(os.Getpid())
	for n := 15; n >= 1; n-- {
		key := "redistest:lease:" + strconv.Itoa(n)
		ok, err := ctrl.SetNX(ctx, key, owner, 10*time.Minute).Result()
		if err != nil {
			_ = ctrl.Close()
			return 0, nil, fmt.Errorf("leasing a Redis database: %w", err)
		}
		if !ok {
			continue
		}
		stop := make(chan struct{})
		go func() { // keep the lease while the benchmark runs
			t := time.NewTicker(time.Minute)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					ctrl.Expire(ctx, key, 10*time.Minute)
				}
			}
		}()
		return n, func() {
			close(stop)
			if v, _ := ctrl.Get(ctx, key).Result(); v == owner {
				ctrl.Del(ctx, key)
			}
			_ = ctrl.Close()
		}, nil
	}
	_ = ctrl.Close()
	return 0, nil, fmt.Errorf("no free Redis database (1..15 are all leased)")
}

// startProcArgs starts the binary with arguments of its own.
func startProcArgs(bin, dir, name string, args, env []string) (*proc, error) {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitHTTP waits until url answers.
func waitHTTP(ctx context.Context, url string, p *proc) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before answering", p.name)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within 20 s: %w", url, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the port; the process gives no other signal
	}
}

// startSim runs `brazesync braze-sim` with the benchmark's limit.
func startSim(ctx context.Context, c config, dir string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProcArgs(c.bin, dir, "braze-sim", []string{"braze-sim", "--addr", addr,
		"--rate-limit", strconv.Itoa(c.limit), "--rate-window", c.window.String()}, []string{"LOG_LEVEL=warn"})
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	if err := waitHTTP(ctx, url+"/_sim/stats", p); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, url, nil
}

// startPrivateRedis starts a redis-server of its own (redisserver.Start)
// and returns the URL of its database 0 and a function that stops it.
func startPrivateRedis(ctx context.Context, dir string) (string, func(), error) {
	addr, stop, err := redisserver.Start(ctx, dir)
	if err != nil {
		return "", nil, err
	}
	return "redis://" + addr + "/0", stop, nil
}

// selfCPU is this process's CPU seconds so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// profileWorkers fetches a CPU profile of seconds from each worker's pprof
// listener into dir (worker-N.pprof), then an execution trace of a second
// (worker-N.trace: where goroutines wait, go tool trace), in the
// background.
func profileWorkers(ctx context.Context, addrs map[string]string, dir string, seconds int) <-chan error {
	done := make(chan error, 1)
	go func() {
		var errs []error
		ch := make(chan error, len(addrs))
		for name, addr := range addrs {
			go func() {
				err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds), filepath.Join(dir, name+".pprof"), seconds)
				if err == nil {
					err = fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/trace?seconds=1", addr), filepath.Join(dir, name+".trace"), 1)
				}
				if err != nil {
					err = fmt.Errorf("profiling %s: %w", name, err)
				}
				ch <- err
			}()
		}
		for range addrs {
			errs = append(errs, <-ch)
		}
		done <- errors.Join(errs...)
	}()
	return done
}

// fetch GETs url, which takes about seconds to answer, into the file path.
func fetch(ctx context.Context, url, path string, seconds int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Duration(seconds+30) * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	return os.WriteFile(path, b, 0o644)
}

// formatCommands formats the commands that took the most Redis time.
func formatCommands(cmds []redisserver.CommandStat) string {
	var b strings.Builder
	for i, c := range cmds {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.2f s (%d calls)", strings.ToUpper(c.Name), float64(c.Usec)/1e6, c.Calls)
	}
	return b.String()
}

// machineCPU is the machine's busy and total CPU time so far, in clock
// ticks (/proc/stat), every process counted.
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}
