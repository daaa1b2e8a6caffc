// Command brazesync runs brazesync's processes: the HTTP API, workers, the
// scheduler, the managed SFTP server, the Braze simulator, and all of them
// at once for development. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/brazesync/brazesync/internal/config"
)

const usage = `brazesync syncs audiences to Braze and Braze data into profiles.

Usage: brazesync COMMAND [ARGS]

Commands:
  api         the HTTP API, collect endpoint, /monitoring, /metrics (HTTP_ADDR)
  worker      the Asynq worker (WORKER_CONCURRENCY)
  scheduler   turns job schedules into tasks
  sftpd       the managed SFTP server (SFTP_ADDR, DATA_DIR)
  dev         api + worker + scheduler + Braze simulator in one process;
              without REDIS_URL an embedded in-memory Redis (nothing persists)
  admin       offline bootstrap: create-account, create-token, list-accounts
  braze-sim   a Braze /users/track simulator (--addr)
  version     print the version

Configuration is by environment variables; see README.md.
`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "api":
		err = runAPI(ctx, getenv)
	case "worker":
		err = runWorker(ctx, getenv)
	case "scheduler":
		err = runScheduler(ctx, getenv)
	case "sftpd":
		err = runSFTPD(ctx, getenv)
	case "dev":
		err = runDev(ctx, getenv, stdout)
	case "admin":
		err = runAdmin(ctx, args[1:], getenv, stdout)
	case "braze-sim":
		err = runBrazeSim(ctx, args[1:], getenv, stdout)
	case "version":
		fmt.Fprintln(stdout, "brazesync", version())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "brazesync: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		var ce *config.Error
		var ue *usageError
		if errors.As(err, &ce) || errors.As(err, &ue) {
			fmt.Fprintf(stderr, "brazesync: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "brazesync: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "unknown"
}
