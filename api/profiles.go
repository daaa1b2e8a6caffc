package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/brazesync/brazesync/internal/ingest"
	"github.com/brazesync/brazesync/internal/profiles"
)

// AudienceLister names the audiences a profile is in (an *audiences.Service).
type AudienceLister interface {
	ProfileAudiences(ctx context.Context, account, profileID string) ([]string, error)
}

// MaxRejectedListed caps the rejections listed in a bulk upsert answer.
const MaxRejectedListed = 100

// ProfilesRoutes is the route group of profiles and stream mappings:
//
//	POST   /api/v1/accounts/{account}/profiles?stream=S           bulk upsert (data_manager; S defaults to braze_users)
//	GET    /api/v1/accounts/{account}/profiles/{field}/{value}    one profile (read)
//	DELETE /api/v1/accounts/{account}/profiles/{field}/{value}    forget it (data_manager)
//	GET    /api/v1/accounts/{account}/streams/{stream}/mapping    the mapping (read)
//	PUT    /api/v1/accounts/{account}/streams/{stream}/mapping    change it (data_manager)
//	DELETE /api/v1/accounts/{account}/streams/{stream}/mapping    back to the built-in one
//	GET    /api/v1/accounts/{account}/streams/{stream}/log        rejected records (read)
type ProfilesRoutes struct {
	Profiles *profiles.Store
	// Audiences, when set, fills the audiences of a profile.
	Audiences AudienceLister
	// Collector, when set, serves the stream logs.
	Collector *ingest.Collector
	// Accounts, when set, answers 404 for unknown accounts.
	Accounts AccountChecker
}

// Routes registers the profile routes.
func (g ProfilesRoutes) Routes(r *Router) {
	const a = "/api/v1/accounts/{account}"
	r.Handle("POST "+a+"/profiles", DataManager, g.upsert)
	r.Handle("GET "+a+"/profiles/{field}/{value}", Read, g.get)
	r.Handle("DELETE "+a+"/profiles/{field}/{value}", DataManager, g.delete)
	r.Handle("GET "+a+"/streams/{stream}/mapping", Read, g.getMapping)
	r.Handle("PUT "+a+"/streams/{stream}/mapping", DataManager, g.putMapping)
	r.Handle("DELETE "+a+"/streams/{stream}/mapping", DataManager, g.resetMapping)
	if g.Collector != nil {
		r.Handle("GET "+a+"/streams/{stream}/log", Read, g.streamLog)
	}
}

func (g ProfilesRoutes) account(r *http.Request) (string, error) {
	acct := r.PathValue("account")
	if g.Accounts == nil {
		return acct, nil
	}
	ok, err := g.Accounts.Exists(r.Context(), acct)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", Errorf(http.StatusNotFound, "not_found", "account %q does not exist", acct)
	}
	return acct, nil
}

func streamOf(stream string) error {
	if err := ingest.ValidStream(stream); err != nil {
		return Invalid("stream", "use 1 to 64 letters, digits, '_', '.' or '-'")
	}
	return nil
}

// upsertAnswer counts a bulk upsert.
type upsertAnswer struct {
	Applied       int                  `json:"applied"`
	RejectedCount int                  `json:"rejected_count"`
	Rejected      []profiles.Rejection `json:"rejected,omitempty"`
}

func (g ProfilesRoutes) upsert(w http.ResponseWriter, r *http.Request) error {
	acct, err := g.account(r)
	if err != nil {
		return err
	}
	stream := r.URL.Query().Get("stream")
	if stream == "" {
		stream = profiles.BrazeUsersStream
	}
	if err := streamOf(stream); err != nil {
		return err
	}
	body, err := readBody(w, r, ingest.MaxBodyBytesDefault)
	if err != nil {
		return err
	}
	parsed, err := ingest.ParseRecords(r.Header.Get("Content-Type"), body)
	if err != nil {
		return Errorf(http.StatusBadRequest, "malformed", "%v", err)
	}
	rejected, index := parsed.Problems, parsed.Index
	res, err := g.Profiles.Upsert(r.Context(), acct, stream, parsed.Records)
	if err != nil {
		return err
	}
	for _, rj := range res.Rejected {
		rejected = append(rejected, profiles.Rejection{Index: index[rj.Index], Reason: rj.Reason})
	}
	ans := upsertAnswer{Applied: res.Applied, RejectedCount: len(rejected)}
	ans.Rejected = rejected[:min(len(rejected), MaxRejectedListed)]
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// profileAnswer is one profile as the API shows it.
type profileAnswer struct {
	ID         string               `json:"id"`
	Fields     map[string]any       `json:"fields"`
	Identities map[string][]string  `json:"identities"`
	Audiences  []string             `json:"audiences"`
	FirstSeen  time.Time            `json:"first_seen"`
	LastSeen   time.Time            `json:"last_seen"`
	FieldTimes map[string]time.Time `json:"field_times,omitempty"`
}

func (g ProfilesRoutes) lookup(r *http.Request) (string, *profiles.Profile, error) {
	acct, err := g.account(r)
	if err != nil {
		return "", nil, err
	}
	field, value := r.PathValue("field"), r.PathValue("value")
	p, err := g.Profiles.Lookup(r.Context(), acct, field, value)
	if errors.Is(err, profiles.ErrNotFound) {
		return "", nil, Errorf(http.StatusNotFound, "not_found", "no profile has %s %q", field, value)
	}
	if err != nil {
		return "", nil, err
	}
	return acct, p, nil
}

func (g ProfilesRoutes) get(w http.ResponseWriter, r *http.Request) error {
	acct, p, err := g.lookup(r)
	if err != nil {
		return err
	}
	ans := profileAnswer{
		ID: p.ID, Fields: p.Fields, Identities: p.Identities, Audiences: []string{},
		FirstSeen: p.FirstSeen, LastSeen: p.LastSeen, FieldTimes: p.FieldTimes,
	}
	if g.Audiences != nil {
		list, err := g.Audiences.ProfileAudiences(r.Context(), acct, p.ID)
		if err != nil {
			return err
		}
		if list != nil {
			ans.Audiences = list
		}
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (g ProfilesRoutes) delete(w http.ResponseWriter, r *http.Request) error {
	acct, p, err := g.lookup(r)
	if err != nil {
		return err
	}
	if err := g.Profiles.Delete(r.Context(), acct, p.ID); err != nil {
		if errors.Is(err, profiles.ErrNotFound) {
			return Errorf(http.StatusNotFound, "not_found", "profile %s is already gone", p.ID)
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": p.ID, "deleted": true})
	return nil
}

func (g ProfilesRoutes) getMapping(w http.ResponseWriter, r *http.Request) error {
	acct, stream, err := g.accountStream(r)
	if err != nil {
		return err
	}
	m, err := g.Profiles.Mapping(r.Context(), acct, stream)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (g ProfilesRoutes) putMapping(w http.ResponseWriter, r *http.Request) error {
	acct, stream, err := g.accountStream(r)
	if err != nil {
		return err
	}
	var m profiles.Mapping
	if err := decode(w, r, &m); err != nil {
		return err
	}
	if err := g.Profiles.SetMapping(r.Context(), acct, stream, m); err != nil {
		return err
	}
	stored, err := g.Profiles.Mapping(r.Context(), acct, stream)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, stored)
	return nil
}

func (g ProfilesRoutes) resetMapping(w http.ResponseWriter, r *http.Request) error {
	acct, stream, err := g.accountStream(r)
	if err != nil {
		return err
	}
	if err := g.Profiles.ResetMapping(r.Context(), acct, stream); err != nil {
		return err
	}
	m, err := g.Profiles.Mapping(r.Context(), acct, stream)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (g ProfilesRoutes) streamLog(w http.ResponseWriter, r *http.Request) error {
	acct, stream, err := g.accountStream(r)
	if err != nil {
		return err
	}
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		return err
	}
	entries, err := g.Collector.StreamLog(r.Context(), acct, stream, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": entries})
	return nil
}

// accountStream returns the request's account (checked) and {stream}.
func (g ProfilesRoutes) accountStream(r *http.Request) (string, string, error) {
	acct, err := g.account(r)
	if err != nil {
		return "", "", err
	}
	stream := r.PathValue("stream")
	if err := streamOf(stream); err != nil {
		return "", "", err
	}
	return acct, stream, nil
}
