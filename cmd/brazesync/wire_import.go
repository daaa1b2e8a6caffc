package main

import (
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/sftpclient"
	"github.com/brazesync/brazesync/tasks"
	"github.com/brazesync/brazesync/workers"
)

// Wiring of Import CSV over SFTP.

// importAuthorizationTypes are the SFTP authorization types.
func (a *app) importAuthorizationTypes() []authorizations.Type {
	return append([]authorizations.Type{authorizations.SFTPType(a.egress), authorizations.SFTPPGPType(a.egress)}, a.managedAuthorizationTypes()...)
}

// importJobTypes are the import job types.
func (a *app) importJobTypes() []jobs.Type {
	return []jobs.Type{importjob.JobType(tasks.JobTypeCSVImport)}
}

// importRoutes is the job file ledger API.
func (a *app) importRoutes() api.RouteGroup {
	return &api.ImportFiles{Accounts: a.accounts, Jobs: a.jobs, Ledger: csvimport.NewLedger(a.rdb, a.ns),
		Rejected: importjob.NewRejectedStore(a.rdb, a.ns, a.cfg.ImportRejectedRetention)}
}

// importEgress is how imports reach SFTP servers: customers' through the
// egress policy, the managed server (SFTP_PUBLIC_HOST) directly.
func (a *app) importEgress() importjob.Egress {
	e := importjob.Egress{Policy: a.egress}
	if host, port, err := managedEndpoint(a.cfg.SFTPPublicHost, a.cfg.SFTPAddr); err == nil {
		e.Managed = net.JoinHostPort(host, strconv.Itoa(port))
	}
	return e
}

// authorizationTesters test SFTP authorizations (POST .../test).
func (a *app) authorizationTesters() map[string]api.AuthorizationTester {
	t := importjob.Tester{Auths: a.auths, Egress: a.importEgress()}
	return map[string]api.AuthorizationTester{"sftp": t, "sftp_pgp": t, "sftp_managed": t}
}

// registerImport adds the import job runner and the watch of imports
// whose worker died to a worker, and removes the staging files a crashed
// worker left (the holder of a job's lease removes its job's at once).
func (a *app) registerImport(w *workers.Server) {
	temp := filepath.Join(a.cfg.DataDir, "temp")
	if n, err := csvimport.CleanTempDir(temp, 24*time.Hour); err != nil {
		a.log.Warn("removing old import staging files", "dir", temp, "err", err)
	} else if n > 0 {
		a.log.Info("removed old import staging files", "dir", temp, "files", n)
	}
	runner := importjob.New(a.auths, a.jobs, csvimport.NewImporter(a.rdb, a.ns, a.log), sftpclient.NewLimiter(a.rdb, a.ns, sftpclient.LimiterConfig{Logger: a.log}), importjob.ProfilesUpserter(a.profiles),
		importjob.Options{TempDir: temp, Egress: a.importEgress(), Logger: a.log.With("component", "import"),
			Rejected: importjob.NewRejectedStore(a.rdb, a.ns, a.cfg.ImportRejectedRetention), Watcher: workers.ImportWatcher{Client: a.client}})
	a.runners[tasks.JobTypeCSVImport] = &workers.Imports{Runner: runner, Jobs: a.jobs}
	w.Handle(tasks.TypeImportWatch, &workers.ImportWatches{Runner: runner, Client: a.client, Logger: a.log.With("component", "import")})
}
