package main

import (
	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/workers"
)

// Wiring of the data domains: collect endpoint, profiles, audiences.

// dataRoutes are the API route groups of the data domains.
func (a *app) dataRoutes() []api.RouteGroup { return nil }

// registerData adds the data domains' task handlers to a worker.
func (a *app) registerData(w *workers.Server) {}

// dataBackground are the data domains' components of a worker process
// (the ingest processor).
func (a *app) dataBackground() components { return nil }
