package main

import (
	"context"
	"errors"

	"github.com/brazesync/brazesync/internal/authorizations"
)

// Wiring of the managed SFTP server.

// managedAuthorizationTypes is the sftp_managed type.
func (a *app) managedAuthorizationTypes() []authorizations.Type { return nil }

// runSFTPD runs the managed SFTP server.
func runSFTPD(ctx context.Context, getenv func(string) string) error {
	return errors.New("sftpd: not wired yet")
}
