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
	"github.com/brazesync/brazesync/internal/sftpclient"
)

// Wiring of Import CSV over SFTP.

// importAuthorizationTypes are the SFTP authorization types.
func (a *app) importAuthorizationTypes() []authorizations.Type {
	return []authorizations.Type{authorizations.SFTPType(a.egress), authorizations.SFTPPGPType(a.egress), a.managedAuthorizationType()}
}

// importRoutes is the job file ledger API.
func (a *app) importRoutes() api.RouteGroup {
	return &api.ImportFiles{Accounts: a.accounts, Jobs: a.jobs, Ledger: csvimport.NewLedger(a.rdb, a.ns), JobType: importjob.TypeName,
		Rejected: importjob.NewRejectedStore(a.rdb, a.ns, a.cfg.ImportRejectedRetention)}
}

// importEgress is how imports reach SFTP servers: customers' through the
// egress policy, the managed server (SFTP_PUBLIC_HOST) directly.
func (a *app) importEgress() importjob.Egress {
	e := importjob.Egress{Policy: a.egress}
	if host, port, err := a.cfg.ManagedEndpoint(); err == nil {
		e.Managed = net.JoinHostPort(host, strconv.Itoa(port))
	}
	return e
}

// authorizationTesters test SFTP authorizations (POST .../test).
func (a *app) authorizationTesters() map[string]api.AuthorizationTester {
	t := importjob.Tester{Auths: a.auths, Egress: a.importEgress()}
	return map[string]api.AuthorizationTester{"sftp": t, "sftp_pgp": t, "sftp_managed": t}
}

// importRunner runs Import CSV jobs; an import whose worker died is taken
// over through watch tasks.
func (a *app) importRunner() *importjob.Runner {
	return importjob.New(a.auths, a.jobs, csvimport.NewImporter(a.rdb, a.ns, a.log), sftpclient.NewLimiter(a.rdb, a.ns, sftpclient.LimiterConfig{Logger: a.log}), importjob.ProfilesUpserter(a.profiles),
		importjob.Options{TempDir: a.importTempDir(), Egress: a.importEgress(), Logger: a.log.With("component", "import"),
			Rejected: importjob.NewRejectedStore(a.rdb, a.ns, a.cfg.ImportRejectedRetention), Enqueuer: a.client})
}

func (a *app) importTempDir() string { return filepath.Join(a.cfg.DataDir, "temp") }

// cleanImportStaging removes the staging files a crashed worker left (the
// holder of a job's lease removes its job's at once).
func (a *app) cleanImportStaging() {
	temp := a.importTempDir()
	if n, err := csvimport.CleanTempDir(temp, 24*time.Hour); err != nil {
		a.log.Warn("removing old import staging files", "dir", temp, "err", err)
	} else if n > 0 {
		a.log.Info("removed old import staging files", "dir", temp, "files", n)
	}
}
