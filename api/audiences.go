package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/tasks"
)

// AccountExister tells whether an account exists (*accounts.Store).
type AccountExister interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// Audiences is the route group of the audiences of an account. Register it
// in Deps.Groups.
type Audiences struct {
	Service  *audiences.Service
	Accounts AccountExister
	// Enqueuer enqueues the re-evaluation of every profile after a rule
	// audience is created or its rule changed
	// (tasks.TypeAudienceReevaluate). nil skips it; the audience then fills
	// only as profiles change.
	Enqueuer tasks.Enqueuer
}

// MembersLimitMax bounds ?limit= of the member listing.
const MembersLimitMax = 1000

// Routes implements RouteGroup.
func (g *Audiences) Routes(r *Router) {
	r.Handle("POST /api/v1/accounts/{account}/audiences", DataManager, g.create)
	r.Handle("GET /api/v1/accounts/{account}/audiences", Read, g.list)
	r.Handle("GET /api/v1/accounts/{account}/audiences/{slug}", Read, g.get)
	r.Handle("PATCH /api/v1/accounts/{account}/audiences/{slug}", DataManager, g.update)
	r.Handle("DELETE /api/v1/accounts/{account}/audiences/{slug}", DataManager, g.delete)
	r.Handle("POST /api/v1/accounts/{account}/audiences/{slug}/members", DataManager, g.updateMembers)
	r.Handle("GET /api/v1/accounts/{account}/audiences/{slug}/members", Read, g.members)
}

// account returns the {account} of the request after checking it exists.
func (g *Audiences) account(r *http.Request) (string, error) {
	acct := r.PathValue("account")
	ok, err := g.Accounts.Exists(r.Context(), acct)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", Errorf(http.StatusNotFound, "not_found", "account %q does not exist", acct)
	}
	return acct, nil
}

// reevaluate enqueues the first chunk of a rule audience's re-evaluation.
func (g *Audiences) reevaluate(ctx context.Context, acct, slug string) error {
	if g.Enqueuer == nil {
		return nil
	}
	return tasks.EnqueueAudienceReevaluate(ctx, g.Enqueuer, tasks.AudienceReevaluate{Account: acct, Slug: slug})
}

type audienceBody struct {
	Slug        string          `json:"slug"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Kind        audiences.Kind  `json:"kind"`
	Rule        json.RawMessage `json:"rule"`
}

func (g *Audiences) create(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	var in audienceBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := g.Service.Create(r.Context(), acct, audiences.Audience{
		Slug: in.Slug, Name: in.Name, Description: in.Description, Kind: in.Kind, Rule: in.Rule,
	})
	if err != nil {
		return err
	}
	if a.Kind == audiences.KindRule {
		if err := g.reevaluate(r.Context(), acct, a.Slug); err != nil {
			return err
		}
	}
	info, err := g.Service.Get(r.Context(), acct, a.Slug)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (g *Audiences) list(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	list, err := g.Service.List(r.Context(), acct)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
	return nil
}

func (g *Audiences) get(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	info, err := g.Service.Get(r.Context(), acct, r.PathValue("slug"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (g *Audiences) update(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	var in audiences.Patch
	if err := decode(w, r, &in); err != nil {
		return err
	}
	slug := r.PathValue("slug")
	_, ruleChanged, err := g.Service.Update(r.Context(), acct, slug, in)
	if err != nil {
		return err
	}
	if ruleChanged {
		if err := g.reevaluate(r.Context(), acct, slug); err != nil {
			return err
		}
	}
	info, err := g.Service.Get(r.Context(), acct, slug)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (g *Audiences) delete(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	if err := g.Service.Delete(r.Context(), acct, r.PathValue("slug")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type membersBody struct {
	Add    []audiences.Identity `json:"add"`
	Remove []audiences.Identity `json:"remove"`
}

func (g *Audiences) updateMembers(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	var in membersBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	counts, err := g.Service.UpdateMembers(r.Context(), acct, r.PathValue("slug"), in.Add, in.Remove)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, counts)
	return nil
}

func (g *Audiences) members(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	slug := r.PathValue("slug")
	limit, err := limitParam(r, 100, MembersLimitMax)
	if err != nil {
		return err
	}
	info, err := g.Service.Get(r.Context(), acct, slug)
	if err != nil {
		return err
	}
	ids, next, err := g.Service.Members(r.Context(), acct, slug, r.URL.Query().Get("cursor"), int(limit))
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": ids, "next_cursor": next, "size": info.Size})
	return nil
}
