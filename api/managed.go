package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/sftpd"
)

// ManagedUsers is what the public keys routes need of the managed SFTP
// server's users (*sftpd.UserStore).
type ManagedUsers interface {
	LookupUser(ctx context.Context, username string) (sftpd.User, error)
	AddPublicKey(ctx context.Context, acct, username, authorizedKey string) (string, error)
	RemovePublicKey(ctx context.Context, acct, username, fingerprint string) (bool, error)
	ListPublicKeys(ctx context.Context, acct, username string) ([]sftpd.PublicKey, error)
}

// ManagedSFTP is the route group of the public keys of sftp_managed
// authorizations: the keys the customer's SFTP clients may log in with,
// beside the password. The key brazesync's workers log in with (the
// authorization's config.worker_key) is listed with "worker": true and
// cannot be removed here. Register it in Deps.Groups.
type ManagedSFTP struct {
	Accounts       AccountExister
	Authorizations *authorizations.Store
	Users          ManagedUsers
}

// Routes implements RouteGroup.
func (g *ManagedSFTP) Routes(r *Router) {
	r.Handle("POST /api/v1/accounts/{account}/authorizations/{id}/public_keys", Admin, g.addKey)
	r.Handle("GET /api/v1/accounts/{account}/authorizations/{id}/public_keys", Read, g.listKeys)
	r.Handle("DELETE /api/v1/accounts/{account}/authorizations/{id}/public_keys/{fingerprint}", Admin, g.removeKey)
}

// publicKey is a public key as the API shows it.
type publicKey struct {
	Fingerprint string `json:"fingerprint"`
	PublicKey   string `json:"public_key"`
	// Worker marks the key brazesync's workers log in with.
	Worker bool `json:"worker,omitempty"`
}

// managedUser is the SFTP user of an sftp_managed authorization.
type managedUser struct {
	account, username string
	workerKey         string // fingerprint of the workers' key
}

// user returns the SFTP user of the sftp_managed authorization named by
// the request; 404 for any other authorization.
func (g *ManagedSFTP) user(r *http.Request) (managedUser, error) {
	acct := r.PathValue("account")
	ok, err := g.Accounts.Exists(r.Context(), acct)
	if err != nil {
		return managedUser{}, err
	}
	if !ok {
		return managedUser{}, Errorf(http.StatusNotFound, "not_found", "account %q does not exist", acct)
	}
	a, err := g.Authorizations.Get(r.Context(), acct, r.PathValue("id"))
	if err != nil {
		return managedUser{}, err
	}
	if a.Type != sftpd.AuthorizationType {
		return managedUser{}, Errorf(http.StatusNotFound, "not_found", "authorization %s is a %s authorization; public keys belong to %s authorizations", a.ID, a.Type, sftpd.AuthorizationType)
	}
	username, _ := authorizations.ConfigString(a.Config, "username")
	u, err := g.Users.LookupUser(r.Context(), username)
	if errors.Is(err, sftpd.ErrNoUser) || (err == nil && (u.Account != acct || u.AuthID != a.ID)) {
		return managedUser{}, Errorf(http.StatusNotFound, "not_found", "authorization %s has no managed SFTP user (config.username %q is not its user)", a.ID, username)
	}
	if err != nil {
		return managedUser{}, err
	}
	workerKey, _ := authorizations.ConfigString(a.Config, "worker_key")
	return managedUser{account: acct, username: username, workerKey: workerKey}, nil
}

// managedError translates the errors of package sftpd.
func managedError(err error) error {
	switch {
	case errors.Is(err, sftpd.ErrBadPublicKey):
		return Invalid("public_key", "is not an OpenSSH public key line such as \"ssh-ed25519 AAAA... comment\"")
	case errors.Is(err, sftpd.ErrNoUser):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "the authorization has no managed SFTP user"}
	}
	return err
}

func (g *ManagedSFTP) addKey(w http.ResponseWriter, r *http.Request) error {
	mu, err := g.user(r)
	if err != nil {
		return err
	}
	acct, username := mu.account, mu.username
	var in struct {
		PublicKey string `json:"public_key"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	line := strings.TrimSpace(in.PublicKey)
	if line == "" {
		return Invalid("public_key", "is required: an OpenSSH public key line such as \"ssh-ed25519 AAAA... comment\"")
	}
	if strings.ContainsAny(line, "\r\n") {
		return Invalid("public_key", "must be one key on one line")
	}
	fp, err := g.Users.AddPublicKey(r.Context(), acct, username, line)
	if err != nil {
		return managedError(err)
	}
	keys, err := g.Users.ListPublicKeys(r.Context(), acct, username)
	if err != nil {
		return managedError(err)
	}
	out := publicKey{Fingerprint: fp}
	for _, k := range keys {
		if k.Fingerprint == fp {
			out.PublicKey = k.AuthorizedKey
		}
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (g *ManagedSFTP) listKeys(w http.ResponseWriter, r *http.Request) error {
	mu, err := g.user(r)
	if err != nil {
		return err
	}
	keys, err := g.Users.ListPublicKeys(r.Context(), mu.account, mu.username)
	if err != nil {
		return managedError(err)
	}
	out := make([]publicKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, publicKey{Fingerprint: k.Fingerprint, PublicKey: k.AuthorizedKey, Worker: k.Fingerprint == mu.workerKey})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

// removeKey removes a key named by its fingerprint, URL-escaped
// ("SHA256:ab%2Fcd..."); the "SHA256:" prefix may be left out.
func (g *ManagedSFTP) removeKey(w http.ResponseWriter, r *http.Request) error {
	mu, err := g.user(r)
	if err != nil {
		return err
	}
	fp := r.PathValue("fingerprint")
	if !strings.HasPrefix(fp, "SHA256:") {
		fp = "SHA256:" + fp
	}
	if fp == mu.workerKey {
		return Errorf(http.StatusConflict, "worker_key", "%s is the key brazesync's workers read the uploaded files with; it cannot be removed", fp)
	}
	ok, err := g.Users.RemovePublicKey(r.Context(), mu.account, mu.username, fp)
	if err != nil {
		return managedError(err)
	}
	if !ok {
		return Errorf(http.StatusNotFound, "not_found", "the authorization has no public key %s", fp)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
