package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/brazesync/brazesync/internal/buildinfo"
	"github.com/brazesync/brazesync/internal/cli"
	"github.com/brazesync/brazesync/internal/ctl"
)

// The usage texts of the commands. Every variable is described in
// docs/operations.md, whose table says which commands read it
// (TestHelpNamesTheVariablesItReads).

const programSummary = `brazesync syncs audiences to Braze and Braze data into profiles.`

const programFooter = `Configuration is by environment variables (REDIS_URL, BRAZESYNC_MASTER_KEY,
...); each command's --help names those it reads. Invalid configuration
exits with status 2, other failures with status 1 (ctl has more: brazesync
ctl --help).`

const productionEnv = `  REDIS_URL                 Redis, e.g. redis://127.0.0.1:6379/0 (required)
  BRAZESYNC_MASTER_KEY      key(s) sealing secrets at rest, base64 (required)
  LOG_LEVEL                 debug, info, warn or error (default info); JSON logs on stderr`

const apiUsage = `Usage: brazesync api

Serves the HTTP API (/api/v1, /openapi.json), the collect endpoint
(POST /c/{account}/{stream}), asynqmon at /monitoring/, /metrics, /healthz
and /readyz. On SIGTERM it finishes the requests in flight (up to
SHUTDOWN_TIMEOUT) and exits with status 0.

Environment:
` + productionEnv + `
  HTTP_ADDR                 listen address (default :8080)
  BRAZESYNC_ADMIN_TOKEN     the operator token (accounts, /monitoring/)
  BRAZESYNC_MONITOR_TOKEN   a read-only operator token (read routes, /monitoring/ read-only)
  SFTP_PUBLIC_HOST, SFTP_ADDR, DATA_DIR
                            the managed SFTP server, for sftp_managed authorizations
  BRAZESYNC_EGRESS_ALLOW    CIDRs customer-supplied destinations may reach although internal (default none)
  BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS
                            allow Braze endpoints outside *.braze.com and *.braze.eu (default false)
  BRAZESYNC_ALLOW_INSECURE_ENDPOINTS
                            allow plain-http Braze endpoints (default false)
  METRICS_ADDR              serve /metrics and /healthz there without a token (default off)
  SHUTDOWN_TIMEOUT          how long requests may finish after SIGTERM (default 30s)
`

const workerUsage = `Usage: brazesync worker

Runs the Asynq worker: exports, imports, audience and maintenance tasks,
and the ingest processor of the collect endpoint. Run as many as the load
needs. On SIGTERM it lets running tasks finish (up to SHUTDOWN_TIMEOUT,
then Asynq requeues them) and exits with status 0.

Environment:
` + productionEnv + `
  WORKER_CONCURRENCY        tasks run at once (default 10)
  DATA_DIR                  import staging (default ./data)
  GOGC                      the garbage collector's target (default 200 here)
  SFTP_PUBLIC_HOST, SFTP_ADDR
                            where workers reach the managed SFTP server
  BRAZESYNC_EGRESS_ALLOW    CIDRs customer-supplied destinations may reach although internal (default none)
  BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS
                            allow Braze endpoints outside *.braze.com and *.braze.eu (default false)
  BRAZESYNC_ALLOW_INSECURE_ENDPOINTS
                            allow plain-http Braze endpoints (default false)
  IMPORT_REJECTED_RETENTION how long an import run's rejected rows are kept (default 168h)
  METRICS_ADDR              serve /metrics and /healthz there without a token (default off)
  SHUTDOWN_TIMEOUT          how long running tasks may finish after SIGTERM (default 30s)
`

const schedulerUsage = `Usage: brazesync scheduler

Turns job schedules into tasks and runs the periodic maintenance. Several
may run; each occurrence is enqueued once. Exits with status 0 on SIGTERM.

Environment:
` + productionEnv + `
  METRICS_ADDR              serve /metrics and /healthz there without a token (default off)
`

const sftpdUsage = `Usage: brazesync sftpd

Runs the managed SFTP server that sftp_managed authorizations upload to;
an upload starts the import jobs of its authorization. Several replicas
may run behind one address. On SIGTERM it lets uploads in progress finish
(up to SHUTDOWN_TIMEOUT) and exits with status 0.

Environment:
` + productionEnv + `
  SFTP_ADDR                 listen address (default :2022)
  DATA_DIR                  where uploaded files are kept (default ./data)
  SFTP_QUOTA_BYTES, SFTP_QUOTA_FILES
                            per-user quotas (default 10 GiB, 10,000 files)
  SFTP_MAX_USER_FAILURES, SFTP_MAX_USER_GLOBAL_FAILURES, SFTP_MAX_ADDR_FAILURES,
  SFTP_FAILURE_WINDOW, SFTP_LOCKOUT
                            login lockouts (default 5, 50, 20, 15m, 15m)
  SFTP_TRUSTED_PROXIES      load balancers whose PROXY protocol header is believed (default none)
  SFTP_METRICS_ADDR         serve /metrics and /healthz there (default off)
  SHUTDOWN_TIMEOUT          how long uploads may finish after SIGTERM (default 30s)
`

const devUsage = `Usage: brazesync dev

Runs the API, a worker, the scheduler, the managed SFTP server and a Braze
simulator in one process, with a demo account whose export job sends to
the simulator, and prints the URLs and the admin token on stdout. Without
REDIS_URL it runs an embedded in-memory Redis: nothing persists.

Environment (all optional):
  REDIS_URL                 a Redis to keep the data in (default: embedded, in memory)
  BRAZESYNC_MASTER_KEY      default: random with the embedded Redis, else kept in DATA_DIR/dev_master_key
  BRAZESYNC_ADMIN_TOKEN     default: generated and printed
  HTTP_ADDR                 API listen address (default :8080)
  SFTP_ADDR                 managed SFTP listen address (default :2022)
  BRAZE_SIM_ADDR            Braze simulator listen address (default 127.0.0.1:0)
  DATA_DIR                  default ./data
  LOG_LEVEL                 debug, info, warn or error (default info)
  BRAZESYNC_EGRESS_ALLOW    default 127.0.0.0/8,::1/128 (the simulator and the SFTP server)
  METRICS_ADDR              serve /metrics and /healthz there without a token (default off)
  The other variables of api, worker and sftpd apply as well.
`

const versionUsage = `Usage: brazesync version

Prints the version, the VCS revision and whether the working tree had
uncommitted changes when the binary was built, on one line:
  brazesync (devel) revision 4946bd6c0123456789abcdef0123456789abcdef (clean)
`

const adminUsage = `Usage: brazesync admin COMMAND [ARGS]

Offline administration straight against Redis: the bootstrap of the first
accounts and tokens, migrations and key rotation.

Environment:
` + productionEnv

// program is brazesync's command line.
func program(getenv func(string) string, stdout io.Writer) *cli.Program {
	return &cli.Program{
		Name:    "brazesync",
		Summary: programSummary,
		Footer:  programFooter,
		Commands: []*cli.Command{
			{Name: "api", Summary: "the HTTP API, collect endpoint, /monitoring/, /metrics (HTTP_ADDR)", Usage: apiUsage,
				Run: noArgs(func(ctx context.Context) error { return runAPI(ctx, getenv) })},
			{Name: "worker", Summary: "the Asynq worker (WORKER_CONCURRENCY)", Usage: workerUsage,
				Run: noArgs(func(ctx context.Context) error { return runWorker(ctx, getenv) })},
			{Name: "scheduler", Summary: "turns job schedules into tasks", Usage: schedulerUsage,
				Run: noArgs(func(ctx context.Context) error { return runScheduler(ctx, getenv) })},
			{Name: "sftpd", Summary: "the managed SFTP server (SFTP_ADDR, DATA_DIR)", Usage: sftpdUsage,
				Run: noArgs(func(ctx context.Context) error { return runSFTPD(ctx, getenv) })},
			{Name: "dev", Summary: "all of the above and a Braze simulator in one process (no REDIS_URL: in-memory Redis)", Usage: devUsage,
				Run: noArgs(func(ctx context.Context) error { return runDev(ctx, getenv, stdout) })},
			{Name: "admin", Summary: "offline administration straight against Redis:", Usage: adminUsage,
				Commands: adminCommands(getenv, stdout)},
			ctl.Command(getenv, os.Stdin, stdout),
			brazeSimCommand(getenv, stdout),
			{Name: "version", Summary: "print the version, VCS revision and whether the tree was modified", Usage: versionUsage,
				Run: noArgs(func(context.Context) error {
					_, err := fmt.Fprintln(stdout, "brazesync", buildinfo.Read())
					return err
				})},
		},
		ExitStatus: exitStatus,
	}
}

// noArgs runs f for a command that takes no arguments.
func noArgs(f func(ctx context.Context) error) func(ctx context.Context, args []string) error {
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return cli.Usagef("takes no arguments (got %q)", args[0])
		}
		return f(ctx)
	}
}
