package main

import (
	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/ingest"
	"github.com/brazesync/brazesync/workers"
)

// Wiring of the data domains: collect endpoint, profiles, audiences.

func (a *app) audienceTasks() *workers.Audiences {
	return &workers.Audiences{Service: a.audiences, Accounts: a.accounts, Changelog: a.changelog, Enqueuer: a.client, Logger: a.log.With("component", "audiences")}
}

func (a *app) collector() *ingest.Collector {
	return ingest.NewCollector(a.rdb, a.ns, a.profiles, ingest.CollectorOptions{Logger: a.log.With("component", "collect")})
}

// dataRoutes are the API route groups of the data domains.
func (a *app) dataRoutes() []api.RouteGroup {
	c := a.collector()
	return []api.RouteGroup{
		api.CollectRoutes{Collector: c, Accounts: a.accounts},
		api.ProfilesRoutes{Profiles: a.profiles, Audiences: a.audiences, Collector: c, Accounts: a.accounts},
		&api.Audiences{Service: a.audiences, Accounts: a.accounts, Enqueuer: a.client},
	}
}

// registerData adds the data domains' task handlers to a worker.
func (a *app) registerData(w *workers.Server) {
	a.audienceTasks().Register(w)
}

// dataBackground are the data domains' components of a worker process:
// the ingest processor that applies collected events to profiles.
func (a *app) dataBackground() components {
	p := ingest.NewProcessor(a.rdb, a.ns, a.profiles, ingest.ProcessorOptions{Logger: a.log.With("component", "ingest")})
	return components{{"ingest processor", p.Start, p.Stop}}
}
