package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// proc is a brazesync process started by the benchmark.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(bin, dir, name, role string, env []string) (*proc, error) {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, role)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = f, f
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

// buildBinary builds cmd/brazesync into dir.
func buildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "brazesync")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/brazesync/brazesync/cmd/brazesync").CombinedOutput()
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
