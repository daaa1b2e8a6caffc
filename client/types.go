package client

import "time"

// Health is the answer of GetHealth.
type Health struct {
	Status string `json:"status"`
}

// Readiness is the answer of GetReadiness: "ready", or "redis unavailable".
type Readiness struct {
	Status string `json:"status"`
}

// Account is an account.
type Account struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// AccountInput creates an account.
type AccountInput struct {
	// ID is 1 to 63 characters of a-z, 0-9, '-' and '_', starting with a
	// letter or digit.
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Token scopes.
const (
	ScopeRead        = "read"
	ScopeDataManager = "data_manager"
	ScopeAdmin       = "admin"
)

// Token is an API token of an account, without its secret.
type Token struct {
	ID          string     `json:"id"`
	Account     string     `json:"account"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Scopes      []string   `json:"scopes"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// NewToken is a token as created, with its secret (shown once).
type NewToken struct {
	Token
	// Secret is the token to send as "Authorization: Bearer SECRET".
	Secret string `json:"token"`
}

// TokenInput creates a token.
type TokenInput struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Scopes      []string   `json:"scopes"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// Authorization types.
const (
	AuthorizationBraze       = "braze"
	AuthorizationSFTP        = "sftp"
	AuthorizationSFTPPGP     = "sftp_pgp"
	AuthorizationSFTPManaged = "sftp_managed"
)

// AuthorizationConfig is the config of an authorization; each type uses
// some of the keys (see the field comments).
type AuthorizationConfig struct {
	// Instance (braze) is the Braze instance, e.g. US-01; or RestEndpoint.
	Instance string `json:"instance,omitempty"`
	// RestEndpoint (braze) is the REST endpoint URL.
	RestEndpoint string `json:"rest_endpoint,omitempty"`
	// RateLimit (braze) is requests per RateLimitWindowSeconds (default 3000 per 3).
	RateLimit              int `json:"rate_limit,omitempty"`
	RateLimitWindowSeconds int `json:"rate_limit_window_seconds,omitempty"`
	// BatchSize (braze) is users per /users/track request (default 75).
	BatchSize int `json:"batch_size,omitempty"`
	// MaxConnections (braze) is connections at once (default 16).
	MaxConnections int `json:"max_connections,omitempty"`
	// MaxArrayItems (braze) is the most items the workspace keeps in an
	// array attribute (default 500); array-mode export jobs beyond it are
	// refused.
	MaxArrayItems int `json:"max_array_items,omitempty"`
	// Host, Port, Username, Folder and HostKey (sftp, sftp_pgp,
	// sftp_managed) name the SFTP server, its user and its pinned host key.
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Username string `json:"username,omitempty"`
	Folder   string `json:"folder,omitempty"`
	HostKey  string `json:"host_key,omitempty"`
	// SignerPublicKey (sftp_pgp) is the armored public key files must be
	// signed with.
	SignerPublicKey string `json:"signer_public_key,omitempty"`
	// WorkerKey (sftp_managed) is the fingerprint of the workers' key.
	WorkerKey string `json:"worker_key,omitempty"`
}

// AuthorizationSecrets are the secrets of an authorization: sealed at
// rest, never answered.
type AuthorizationSecrets struct {
	// APIKey (braze) is the workspace's REST API key.
	APIKey string `json:"api_key,omitempty"`
	// Password, PrivateKey and Passphrase (sftp, sftp_pgp) log in.
	Password   string `json:"password,omitempty"`
	PrivateKey string `json:"private_key,omitempty"`
	Passphrase string `json:"passphrase,omitempty"`
	// PGPPrivateKey and PGPPassphrase (sftp_pgp) decrypt the files.
	PGPPrivateKey string `json:"pgp_private_key,omitempty"`
	PGPPassphrase string `json:"pgp_passphrase,omitempty"`
}

// AuthorizationInput creates an authorization.
type AuthorizationInput struct {
	Type        string                `json:"type"`
	Label       string                `json:"label,omitempty"`
	Description string                `json:"description,omitempty"`
	Config      *AuthorizationConfig  `json:"config,omitempty"`
	Secrets     *AuthorizationSecrets `json:"secrets,omitempty"`
}

// AuthorizationPatch changes an authorization: only what is set changes.
// Config keys given replace the stored ones and a nil value removes one;
// a secret set to "" is removed. Changing the destination clears the
// secrets bound to it unless the same patch sends them again.
type AuthorizationPatch struct {
	// Type, if set, must be the authorization's own type.
	Type        string            `json:"type,omitempty"`
	Label       *string           `json:"label,omitempty"`
	Description *string           `json:"description,omitempty"`
	Config      map[string]any    `json:"config,omitempty"`
	Secrets     map[string]string `json:"secrets,omitempty"`
}

// Authorization is an authorization, without its secrets.
type Authorization struct {
	ID          string              `json:"id"`
	Account     string              `json:"account"`
	Type        string              `json:"type"`
	Label       string              `json:"label"`
	Description string              `json:"description,omitempty"`
	Config      AuthorizationConfig `json:"config"`
	// SecretsSet names the secrets that are set.
	SecretsSet []string  `json:"secrets_set"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// NewAuthorization is an authorization as created.
type NewAuthorization struct {
	Authorization
	// ShownOnce holds the generated password of an sftp_managed
	// authorization; nil for other types.
	ShownOnce *ShownOnce `json:"shown_once,omitempty"`
}

// ShownOnce is what an authorization's creation shows once.
type ShownOnce struct {
	Password string `json:"password"`
}

// AuthorizationTest is the outcome of TestAuthorization. A failed test is
// OK false with a stable Code (destination_forbidden, no_ssh_server,
// host_key_mismatch, auth_failed, listing_failed, connection_failed,
// test_failed), not an error.
type AuthorizationTest struct {
	OK     bool                     `json:"ok"`
	Code   string                   `json:"code,omitempty"`
	Error  string                   `json:"error,omitempty"`
	Result *AuthorizationTestResult `json:"result,omitempty"`
}

// AuthorizationTestResult is what a connection test saw.
type AuthorizationTestResult struct {
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Username string `json:"username,omitempty"`
	// HostKeyPinned reports whether a host key is pinned after the call.
	HostKeyPinned bool `json:"host_key_pinned"`
	// Authenticated reports whether the test logged in (only a pinned
	// authorization does).
	Authenticated      bool   `json:"authenticated"`
	HostKey            string `json:"host_key,omitempty"`
	HostKeyFingerprint string `json:"host_key_fingerprint,omitempty"`
	PinnedFingerprint  string `json:"pinned_fingerprint,omitempty"`
	Folder             string `json:"folder,omitempty"`
	Files              int    `json:"files,omitempty"`
	Message            string `json:"message,omitempty"`
}

// ManagedPublicKey is a public key the managed SFTP user of an
// sftp_managed authorization may log in with.
type ManagedPublicKey struct {
	Fingerprint string `json:"fingerprint"`
	PublicKey   string `json:"public_key"`
	// Worker marks the key brazesync's workers log in with.
	Worker bool `json:"worker,omitempty"`
}

// ManagedPublicKeyInput adds a public key.
type ManagedPublicKeyInput struct {
	// PublicKey is an OpenSSH public key line ("ssh-ed25519 AAAA... comment").
	PublicKey string `json:"public_key"`
}
