package main

import (
	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/workers"
)

// Wiring of Import CSV over SFTP.

// importAuthorizationTypes are the SFTP authorization types.
func (a *app) importAuthorizationTypes() []authorizations.Type { return nil }

// importJobTypes are the import job types.
func (a *app) importJobTypes() []jobs.Type { return nil }

// authorizationTesters test SFTP authorizations (POST .../test).
func (a *app) authorizationTesters() map[string]api.AuthorizationTester { return nil }

// registerImport adds the import task handlers and job runner to a worker.
func (a *app) registerImport(w *workers.Server) {}
