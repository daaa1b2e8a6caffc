package main

import (
	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/sftpd"
)

// Wiring of sftp_managed authorizations (provisioned by
// sftpd.ManagedAuthorizationType) and their public keys API. The server
// itself is wired in wire_sftpd.go.

// managedAuthorizationType is the sftp_managed type.
func (a *app) managedAuthorizationType() authorizations.Type {
	if _, _, err := a.cfg.ManagedEndpoint(); err != nil {
		// Every process logs it at start; creating an sftp_managed
		// authorization fails with it until it is fixed.
		a.log.Error("managed sftp authorizations cannot be created", "error", err.Error())
	}
	return sftpd.ManagedAuthorizationType(a.rdb, a.ns, sftpd.ManagedOptions{
		DataDir: a.cfg.DataDir, Endpoint: a.cfg.ManagedEndpoint, Sealer: sftpd.HostKeySealer(a.box),
		Egress: a.egress, Logger: a.log.With("component", "sftp_managed"),
	})
}

// managedRoutes are the public keys routes of sftp_managed authorizations.
func (a *app) managedRoutes() []api.RouteGroup {
	users, err := sftpd.NewUserStore(a.rdb, a.ns, 0)
	if err != nil {
		a.log.Error("managed sftp public keys API disabled", "error", err.Error())
		return nil
	}
	return []api.RouteGroup{&api.ManagedSFTP{Accounts: a.accounts, Authorizations: a.auths, Users: users}}
}
