package main

import "github.com/brazesync/brazesync/internal/authorizations"

// Wiring of the managed SFTP server.

// managedAuthorizationTypes is the sftp_managed type.
func (a *app) managedAuthorizationTypes() []authorizations.Type { return nil }
