package importjob

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/sftpclient"
	"golang.org/x/crypto/ssh"
)

// TestTimeoutDefault bounds one connection test (connect, handshake,
// login and SFTP session start).
const TestTimeoutDefault = 10 * time.Second

// Codes of a failed connection test (TestError.Code), as /test answers
// them; a job's problems have the Code* codes of problems.go.
const (
	TestCodeForbidden        = egress.Code         // the destination is an internal address
	TestCodeNoSSHServer      = "no_ssh_server"     // nothing at host:port spoke SSH in time
	TestCodeHostKeyMismatch  = "host_key_mismatch" // the server presented another key than the pinned one
	TestCodeAuthFailed       = "auth_failed"       // the server refused the credentials
	TestCodeConnectionFailed = "connection_failed" // anything else before the SFTP session
	TestCodeListingFailed    = "listing_failed"    // logged in, but the folder cannot be listed
)

// TestError is a failed connection test with a stable code.
type TestError struct {
	code string
	err  error
}

func (e *TestError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *TestError) Unwrap() error { return e.err }

// Code returns one of the TestCode* constants.
func (e *TestError) Code() string { return e.code }

// Tester checks SFTP authorizations against their server (the API's
// POST .../authorizations/{id}/test).
type Tester struct {
	Auths *authorizations.Store
	// Egress is how servers are reached, as for imports.
	Egress Egress
	// Timeout bounds one test. Default TestTimeoutDefault.
	Timeout time.Duration
}

// Test checks an authorization's server. The host key is always checked
// before any credential could be sent:
//
//   - without a pinned key (config.host_key), Test makes an
//     unauthenticated handshake only and reports the key the server
//     presented; with pin it stores that key (an explicit request, never
//     implicit). No password, private key or keyboard-interactive answer
//     is sent: test again once the key is pinned to log in.
//   - with a pinned key, Test connects, verifies the key, logs in and
//     lists the folder. A key that does not match shows both fingerprints.
//
// A failure is a *TestError; out holds what was learnt before it.
func (t Tester) Test(ctx context.Context, account, id string, pin bool) (out map[string]any, err error) {
	a, secrets, err := t.Auths.Credentials(ctx, account, id)
	if err != nil {
		return nil, err
	}
	cfg, cerr := ClientConfig(a, secrets)
	pinned := cerr == nil
	cfg.HandshakeTimeout = t.Timeout
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = TestTimeoutDefault
	}
	cfg.Dialer = t.Egress.dialer(a, cfg)
	out = map[string]any{"host": cfg.Host, "port": cfg.Port, "username": cfg.Username, "host_key_pinned": pinned, "authenticated": false}
	if !pinned {
		key, err := sftpclient.ScanHostKey(ctx, cfg)
		if err != nil {
			return out, testError(err)
		}
		out["host_key_fingerprint"] = ssh.FingerprintSHA256(key)
		out["host_key"] = sftpclient.AuthorizedKey(key)
		if !pin {
			out["message"] = "the host key is not pinned, so no credential was sent: check the key, then test with ?pin=true to pin it"
			return out, nil
		}
		if _, err := t.Auths.Update(ctx, account, id, authorizations.Input{Config: map[string]any{"host_key": sftpclient.AuthorizedKey(key)}}); err != nil {
			return out, err
		}
		out["host_key_pinned"] = true
		out["message"] = "the host key is pinned; no credential was sent: test again to log in"
		return out, nil
	}
	client, err := sftpclient.Dial(ctx, cfg)
	if err != nil {
		var mm *sftpclient.HostKeyMismatchError
		if errors.As(err, &mm) {
			out["host_key_fingerprint"] = mm.Got
			out["pinned_fingerprint"] = mm.Want
			return out, &TestError{TestCodeHostKeyMismatch, fmt.Errorf("host key mismatch: the authorization pins %s but the server presented %s; if the server's key really changed, update config.host_key", mm.Want, mm.Got)}
		}
		return out, testError(err)
	}
	defer client.Close()
	out["authenticated"] = true
	key := client.HostKey()
	out["host_key_fingerprint"] = ssh.FingerprintSHA256(key)
	out["host_key"] = sftpclient.AuthorizedKey(key)
	folder, _ := authorizations.ConfigString(a.Config, "folder")
	if folder == "" {
		folder = "."
	}
	files, err := client.List(ctx, folder)
	if err != nil {
		return out, &TestError{TestCodeListingFailed, fmt.Errorf("listing folder %q: %w", folder, err)}
	}
	out["folder"] = folder
	out["files"] = len(files)
	return out, nil
}

// testError gives a connection failure its code.
func testError(err error) *TestError {
	switch {
	case errors.Is(err, egress.ErrForbidden):
		return &TestError{TestCodeForbidden, err}
	case errors.Is(err, sftpclient.ErrNoSSHServer):
		return &TestError{TestCodeNoSSHServer, err}
	case errors.Is(err, sftpclient.ErrAuth):
		return &TestError{TestCodeAuthFailed, err}
	}
	return &TestError{TestCodeConnectionFailed, fmt.Errorf("connecting: %w", err)}
}
