// Command benchimport is the Import CSV benchmark: a Braze-shaped
// segment export (500,000 rows, about 100 MB), encrypted by gpg, on OpenSSH's
// sftp on loopback, imported into profiles by one worker; in the same run,
// the sequential chain of standard tools doing the same work (`sftp` get,
// `gpg --decrypt`, `redis-cli --pipe` of one HSET per row); then both again
// through a TCP proxy that adds a round-trip delay.
//
// The worker side is one importjob.Runner.Run of a csv_import job with an
// sftp_pgp authorization, writing profiles through profiles.Store (with the
// audiences hook) into Redis, as cmd/brazesync wires it. It runs in a child
// process (this program with -worker) so that its peak memory (VmHWM) is
// the worker's alone.
//
// It needs root (sshd runs as root and logs in a throwaway user), sshd, sftp,
// gpg, redis-cli, and a Redis whose database (-redis, default 14) it may
// flush; it takes internal/testutil/redistest's lease on that database so
// that test binaries running meanwhile keep off it.
//
//	go run ./cmd/benchimport                      # 500,000 rows, loopback and 20 ms RTT
//	go run ./cmd/benchimport -rows 50000 -rtt 0   # quick, loopback only
//	go run ./cmd/benchimport -private-redis       # its own redis-server: no other client shares it
//	go run ./cmd/benchimport -profile /tmp/prof   # CPU and heap profiles of the worker
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	rows    int
	rtt     time.Duration
	redis   string
	repeat  int
	profile string
	workDir string
	noHook  bool
	private bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-worker" {
		if err := runWorker(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "benchimport worker:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.rows, "rows", 500_000, "rows of the generated CSV")
	flag.DurationVar(&o.rtt, "rtt", 20*time.Millisecond, "round-trip delay of the proxied round (half each way); 0 skips it")
	flag.StringVar(&o.redis, "redis", "redis://127.0.0.1:6379/14", "Redis URL and database (flushed before and after)")
	flag.IntVar(&o.repeat, "repeat", 1, "measure each round this many times")
	flag.StringVar(&o.profile, "profile", "", "directory for the worker's CPU and heap profiles (go tool pprof)")
	flag.StringVar(&o.workDir, "dir", "", "directory for the generated and downloaded files (default a temporary one)")
	flag.BoolVar(&o.private, "private-redis", false, "start a redis-server of its own on a free port instead of using -redis (no other client shares it)")
	flag.BoolVar(&o.noHook, "no-audiences-hook", false, "diagnosis: build the worker's profiles store without the audiences hook (cmd/brazesync always has it)")
	flag.Parse()
	// Ctrl-C stops the measurement and still removes the test user, sshd,
	// the files and the Redis lease.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchimport:", err)
		stop()
		os.Exit(1)
	}
}

// run sets the scene up and measures each round.
func run(ctx context.Context, o options) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("run as root: sshd needs it to log a throwaway user in")
	}
	for _, tool := range []string{"sftp", "gpg", "redis-cli", "gpgconf", "useradd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed: %w", tool, err)
		}
	}
	if o.rows <= 0 || o.repeat <= 0 {
		return errors.New("-rows and -repeat must be positive")
	}
	if o.private {
		dir, err := os.MkdirTemp("", "benchimport-redis-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		url, stop, err := startPrivateRedis(ctx, dir)
		if err != nil {
			return err
		}
		defer stop()
		o.redis = url
	}
	rt, err := parseRedis(o.redis)
	if err != nil {
		return err
	}
	rdb, release, err := rt.lease(ctx)
	if err != nil {
		return err
	}
	defer release()

	sc, err := setUp(ctx, o, rt, rdb)
	if err != nil {
		return err
	}
	defer sc.close()
	rounds := []round{{name: "loopback", addr: sc.sshd.Addr}}
	if o.rtt > 0 {
		p, err := startDelayProxy(sc.sshd.Addr, o.rtt/2)
		if err != nil {
			return err
		}
		defer p.Close()
		measured, err := measureRTT(o.rtt / 2)
		if err != nil {
			return fmt.Errorf("checking the proxy's delay: %w", err)
		}
		fmt.Fprintf(os.Stderr, "delay proxy: %v each way, round trip measured through it: %v\n", o.rtt/2, measured.Round(100*time.Microsecond))
		rounds = append(rounds, round{name: fmt.Sprintf("%v RTT proxy", o.rtt), addr: p.Addr})
	}
	var results []roundResult
	for i := range rounds {
		for n := range o.repeat {
			if err := ctx.Err(); err != nil {
				return err
			}
			res, err := sc.measure(ctx, rounds[i], n)
			if err != nil {
				return fmt.Errorf("%s: %w", rounds[i].name, err)
			}
			printRound(os.Stdout, res)
			results = append(results, res)
		}
	}
	printSummary(os.Stdout, sc, results)
	return nil
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// workDir is the directory for the files: -dir, or a temporary one
// (temporary true) that the run removes.
func workDir(o options) (dir string, temporary bool, err error) {
	if o.workDir == "" {
		d, err := os.MkdirTemp("", "benchimport-")
		return d, err == nil, err
	}
	d, err := filepath.Abs(o.workDir)
	if err != nil {
		return "", false, err
	}
	return d, false, os.MkdirAll(d, 0o755)
}
