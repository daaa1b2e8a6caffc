// Command brazesync runs brazesync's processes: the HTTP API, workers, the
// scheduler, the managed SFTP server, the Braze simulator, and all of them
// at once for development. See README.md.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/brazesync/brazesync/internal/cli"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/ctl"
	"github.com/brazesync/brazesync/internal/logging"
)

func main() {
	level, err := config.LogLevel(os.Getenv)
	if err != nil {
		level = slog.LevelInfo // config.Load reports the bad LOG_LEVEL
	}
	logging.Route(logging.New(os.Stderr, level))
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return program(getenv, stdout).Run(ctx, args, stdout, stderr)
}

// exitStatus is 2 for configuration errors (cli.ExitUsage), ctl's own
// for the API's answers to ctl, 1 otherwise.
func exitStatus(err error) int {
	var ce *config.Error
	if errors.As(err, &ce) {
		return cli.ExitUsage
	}
	if code, ok := ctl.ExitStatus(err); ok {
		return code
	}
	return cli.ExitFailure
}

func newLogger(level slog.Level) *slog.Logger { return logging.New(os.Stderr, level) }
