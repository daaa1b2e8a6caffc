package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/sftpd"
	"golang.org/x/crypto/ssh"
)

// Wiring of sftp_managed authorizations: provisioning a managed SFTP user
// when one is created, removing it when it is deleted, and the public keys
// API. The server itself is wired in wire_sftpd.go.

const (
	// managedType is the authorization type of the managed SFTP server.
	managedType = "sftp_managed"
	// hostKeyPurpose seals the managed server's host key in Redis. The
	// server and the API (which shows the fingerprint) must agree on it.
	hostKeyPurpose = "sftpd/host_key"
)

// managedEndpoint is the host and port written into sftp_managed
// authorizations: SFTP_PUBLIC_HOST (default 127.0.0.1) and the port of
// SFTP_PUBLIC_HOST if it has one, else the port of SFTP_ADDR.
func managedEndpoint(publicHost, sftpAddr string) (host string, port int, err error) {
	host = strings.TrimSpace(publicHost)
	if host == "" {
		host = config.SFTPPublicHostDefault
	}
	portStr := ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, portStr = h, p
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = strings.Trim(host, "[]")
	}
	if host == "" || strings.ContainsAny(host, " /@[]") {
		return "", 0, &config.Error{Var: "SFTP_PUBLIC_HOST", Reason: fmt.Sprintf("%q is not a host name or address (optionally with :port)", publicHost)}
	}
	if portStr == "" {
		_, p, err := net.SplitHostPort(sftpAddr)
		if err != nil {
			return "", 0, &config.Error{Var: "SFTP_ADDR", Reason: fmt.Sprintf("%q is not host:port or :port", sftpAddr)}
		}
		portStr = p
	}
	port, err = strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, &config.Error{Var: "SFTP_PUBLIC_HOST", Reason: fmt.Sprintf("the port %q (from SFTP_PUBLIC_HOST or SFTP_ADDR) is not a port number from 1 to 65535", portStr)}
	}
	return host, port, nil
}

// managedProvisioner creates and removes the SFTP users of sftp_managed
// authorizations.
type managedProvisioner struct {
	users   *sftpd.UserStore
	dataDir string
	// endpoint returns the public host and port (managedEndpoint).
	endpoint func() (string, int, error)
	// hostKey returns the fingerprint of the shared host key, creating the
	// key if no sftpd has started yet.
	hostKey func(ctx context.Context) (string, error)
	// egress is the policy a managed authorization's host passes once it
	// no longer names the managed server.
	egress *egress.Policy
	log    *slog.Logger
}

// managedConfigKeys are the config keys of an sftp_managed authorization.
// brazesync fills all but folder; host, port and host_key stay editable
// (e.g. host, after SFTP_PUBLIC_HOST changed). worker_key is the
// fingerprint of the public key brazesync's workers log in with.
var managedConfigKeys = []string{"host", "port", "username", "folder", "host_key", "worker_key"}

// managedImmutable are the config keys fixed at provisioning: the username
// is the managed SFTP user, unique across every account, that this
// authorization owns; pointing it at another account's user, or at fresh
// names, would let the authorization's tests and imports fail logins of
// users it does not own.
var managedImmutable = []string{"username", "worker_key"}

// managedSecrets are the secrets of an sftp_managed authorization: the
// generated password (shown once) and the workers' private key.
var managedSecrets = []string{"password", "private_key"}

// typ is the sftp_managed authorization type.
func (m *managedProvisioner) typ() authorizations.Type {
	return authorizations.Type{
		Name:        managedType,
		Config:      managedConfigKeys,
		Secrets:     managedSecrets,
		Immutable:   managedImmutable,
		Validate:    m.validate,
		Provision:   m.provision,
		Deprovision: m.deprovision,
	}
}

// provision creates the SFTP user of a new sftp_managed authorization and
// fills its config (host, port, username, host_key, folder, worker_key) and
// its secrets: the generated password (shown once; workers may log in with
// it too) and a private key generated for the workers, whose public key the
// user accepts. Workers read the uploaded files with that key: a key login
// costs the server no bcrypt comparison and never counts as a failed
// password.
func (m *managedProvisioner) provision(ctx context.Context, a *authorizations.Authorization, sec map[string]string) (map[string]any, error) {
	// The root is the folder: a subfolder would not exist before the
	// customer creates it, and a job's first run would fail on it. Jobs
	// name subfolders in their own config.
	for k := range a.Config {
		return nil, &fault.ValidationError{Field: "config." + k, Message: "is set by brazesync for sftp_managed authorizations; leave it out (a job's config.folder names a subfolder)"}
	}
	for k := range sec {
		return nil, &fault.ValidationError{Field: "secrets." + k, Message: "is generated by brazesync for sftp_managed authorizations (shown once in the answer); leave it out"}
	}
	// Everything that can fail without side effects comes first, so that
	// a failure leaves no user behind.
	host, port, err := m.endpoint()
	if err != nil {
		return nil, fmt.Errorf("provisioning sftp_managed authorization: %w", err)
	}
	fp, err := m.hostKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("provisioning sftp_managed authorization: %w", err)
	}
	workerKey, workerPub, err := newWorkerKey()
	if err != nil {
		return nil, fmt.Errorf("provisioning sftp_managed authorization: %w", err)
	}
	username, password, err := m.users.CreateUser(ctx, a.Account, a.ID)
	if errors.Is(err, sftpd.ErrBadAccount) {
		return nil, &fault.ValidationError{Field: "account", Message: "the account id cannot name a managed SFTP directory (letters, digits, '.', '_', '-')"}
	}
	if err != nil {
		return nil, fmt.Errorf("provisioning sftp_managed authorization: %w", err)
	}
	workerFP, err := m.users.AddPublicKey(ctx, a.Account, username, workerPub+" brazesync-workers")
	if err != nil {
		_ = m.users.DeleteUser(context.WithoutCancel(ctx), a.Account, username)
		return nil, fmt.Errorf("provisioning sftp_managed authorization: %w", err)
	}
	a.Config["worker_key"] = workerFP
	sec["private_key"] = workerKey
	a.Config["host"] = host
	a.Config["port"] = port
	a.Config["username"] = username
	a.Config["host_key"] = fp
	a.Config["folder"] = "/"
	sec["password"] = password
	m.log.LogAttrs(ctx, slog.LevelInfo, "managed sftp user created",
		slog.String("account", a.Account), slog.String("authorization", a.ID), slog.String("username", username))
	return map[string]any{"password": password}, nil
}

// deprovision deletes the authorization's SFTP user (it can no longer log
// in) and then its files under DATA_DIR, when this process sees them (the
// API shares DATA_DIR with sftpd, as in dev or with shared storage). A user
// already gone, or one that belongs to another authorization (config
// username edited), is left alone.
func (m *managedProvisioner) deprovision(ctx context.Context, a *authorizations.Authorization) error {
	username, _ := authorizations.ConfigString(a.Config, "username")
	if username == "" {
		return nil
	}
	u, err := m.users.LookupUser(ctx, username)
	if errors.Is(err, sftpd.ErrNoUser) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.Account != a.Account || u.AuthID != a.ID {
		m.log.LogAttrs(ctx, slog.LevelWarn, "managed sftp user not deleted: it belongs to another authorization",
			slog.String("account", a.Account), slog.String("authorization", a.ID), slog.String("username", username))
		return nil
	}
	if err := m.users.DeleteUser(ctx, a.Account, username); err != nil && !errors.Is(err, sftpd.ErrNoUser) {
		return err
	}
	if err := sftpd.RemoveUserFiles(m.dataDir, a.Account, username); err != nil {
		// The user is gone; leftover files are not worth failing the delete.
		m.log.LogAttrs(ctx, slog.LevelWarn, "removing managed sftp files",
			slog.String("account", a.Account), slog.String("username", username), slog.String("error", err.Error()))
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "managed sftp user deleted",
		slog.String("account", a.Account), slog.String("authorization", a.ID), slog.String("username", username))
	return nil
}

// validate is validateManaged, and the egress policy for a host that is
// not the managed server's: the managed server is the operator's and needs
// no allow entry, but an authorization pointed elsewhere names a customer
// destination like any other.
func (m *managedProvisioner) validate(a *authorizations.Authorization, sec map[string]string) error {
	if err := validateManaged(a, sec); err != nil {
		return err
	}
	host, _ := authorizations.ConfigString(a.Config, "host")
	port, _ := authorizations.ConfigInt(a.Config, "port", 22, 1, 65535)
	if h, p, err := m.endpoint(); err == nil && h == host && p == port {
		return nil
	}
	if err := m.egress.CheckHost(host); err != nil {
		return &authorizations.DestinationError{Field: "config.host", Err: err}
	}
	return nil
}

// validateManaged checks an sftp_managed authorization after provisioning
// or an update: it must still name a host, port, user, pinned host key and
// password.
func validateManaged(a *authorizations.Authorization, sec map[string]string) error {
	host, err := authorizations.ConfigString(a.Config, "host")
	if err != nil {
		return err
	}
	if host == "" || strings.ContainsAny(host, " /@") {
		return &fault.ValidationError{Field: "config.host", Message: "is required: the managed SFTP server's public host name or address"}
	}
	if _, err := authorizations.ConfigInt(a.Config, "port", 22, 1, 65535); err != nil {
		return err
	}
	if user, err := authorizations.ConfigString(a.Config, "username"); err != nil {
		return err
	} else if user == "" {
		return &fault.ValidationError{Field: "config.username", Message: "is required"}
	}
	if _, err := authorizations.ConfigString(a.Config, "folder"); err != nil {
		return err
	}
	hk, err := authorizations.ConfigString(a.Config, "host_key")
	if err != nil {
		return err
	}
	if hk == "" {
		return &fault.ValidationError{Field: "config.host_key", Message: "is required: the managed server's host key is always pinned"}
	}
	if err := authorizations.CheckHostKey(hk); err != nil {
		return &fault.ValidationError{Field: "config.host_key", Message: err.Error()}
	}
	if sec["password"] == "" && sec["private_key"] == "" {
		return &fault.ValidationError{Field: "secrets.password", Message: "a password or a private_key is required: workers log in with it to read the uploaded files"}
	}
	if k := sec["private_key"]; k != "" {
		if _, err := ssh.ParsePrivateKey([]byte(k)); err != nil {
			return &fault.ValidationError{Field: "secrets.private_key", Message: "is not an unencrypted OpenSSH or PEM private key: " + err.Error()}
		}
	}
	return nil
}

// newWorkerKey generates the workers' ed25519 key of a managed user: the
// private key in OpenSSH PEM form and the public key as an authorized_keys
// line.
func newWorkerKey() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generating the workers' key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "brazesync-workers")
	if err != nil {
		return "", "", fmt.Errorf("encoding the workers' key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", fmt.Errorf("encoding the workers' public key: %w", err)
	}
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), nil
}

// managedProvisioner builds the provisioner from the app. Its user store
// hashes a dummy password once (bcrypt), so build it once per use.
func (a *app) managedProvisioner() (*managedProvisioner, error) {
	users, err := sftpd.NewUserStore(a.rdb, a.ns, 0)
	if err != nil {
		return nil, err
	}
	sealer := secrets.Purpose{Box: a.box, Purpose: hostKeyPurpose}
	publicHost := a.cfg.SFTPPublicHost
	return &managedProvisioner{
		users: users, dataDir: a.cfg.DataDir,
		endpoint: func() (string, int, error) { return managedEndpoint(publicHost, a.cfg.SFTPAddr) },
		hostKey: func(ctx context.Context) (string, error) {
			return sftpd.HostKeyFingerprint(ctx, a.rdb, a.ns, sealer)
		},
		egress: a.egress,
		log:    a.log.With("component", "sftp_managed"),
	}, nil
}

// managedAuthorizationTypes is the sftp_managed type.
func (a *app) managedAuthorizationTypes() []authorizations.Type {
	m, err := a.managedProvisioner()
	if err != nil {
		t := authorizations.Type{Name: managedType, Config: managedConfigKeys, Secrets: managedSecrets, Immutable: managedImmutable, Validate: validateManaged}
		t.Provision = func(context.Context, *authorizations.Authorization, map[string]string) (map[string]any, error) {
			return nil, err
		}
		return []authorizations.Type{t}
	}
	if _, _, err := m.endpoint(); err != nil {
		// Every process logs it at start; creating an sftp_managed
		// authorization fails with it until it is fixed.
		a.log.Error("managed sftp authorizations cannot be created", "error", err.Error())
	}
	return []authorizations.Type{m.typ()}
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
