package main

import (
	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/workers"
)

// Wiring of the data domains: collect endpoint, profiles, audiences.

func (a *app) audienceTasks() *workers.Audiences {
	return &workers.Audiences{Service: a.audiences, Accounts: a.accounts, Changelog: a.changelog, Enqueuer: a.client, Logger: a.log.With("component", "audiences")}
}

// dataRoutes are the API route groups of the data domains.
func (a *app) dataRoutes() []api.RouteGroup {
	return []api.RouteGroup{
		&api.Audiences{Service: a.audiences, Accounts: a.accounts, Reevaluate: a.audienceTasks().Reevaluate},
	}
}

// registerData adds the data domains' task handlers to a worker.
func (a *app) registerData(w *workers.Server) {
	a.audienceTasks().Register(w)
}

// dataBackground are the data domains' components of a worker process
// (the ingest processor).
func (a *app) dataBackground() components { return nil }
