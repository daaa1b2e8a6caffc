package importjob

import (
	"context"
	"errors"
	"fmt"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/sftpclient"
	"golang.org/x/crypto/ssh"
)

// Tester checks SFTP authorizations against their server (the API's
// POST .../authorizations/{id}/test).
type Tester struct {
	Auths *authorizations.Store
}

// Test connects, authenticates and lists the folder. It reports the host
// key the server presented; with pin it stores that key in the
// authorization (an explicit request, never implicit). A pinned key that
// does not match is an error showing both fingerprints.
func (t Tester) Test(ctx context.Context, account, id string, pin bool) (map[string]any, error) {
	a, secrets, err := t.Auths.Credentials(ctx, account, id)
	if err != nil {
		return nil, err
	}
	cfg, cerr := ClientConfig(a, secrets)
	pinned := cfg.HostKey != ""
	if cerr != nil {
		cfg.InsecureSeeHostKey = true // not pinned yet: see the key, transfer nothing
	}
	out := map[string]any{"host": cfg.Host, "port": cfg.Port, "username": cfg.Username, "host_key_pinned": pinned}
	client, err := sftpclient.Dial(ctx, cfg)
	if err != nil {
		var mm *sftpclient.HostKeyMismatchError
		if errors.As(err, &mm) {
			out["host_key_fingerprint"] = mm.Got
			out["pinned_fingerprint"] = mm.Want
			return out, fmt.Errorf("host key mismatch: the authorization pins %s but the server presented %s; if the server's key really changed, update config.host_key", mm.Want, mm.Got)
		}
		return out, fmt.Errorf("connecting: %w", err)
	}
	defer client.Close()
	key := client.HostKey()
	out["host_key_fingerprint"] = ssh.FingerprintSHA256(key)
	out["host_key"] = sftpclient.AuthorizedKey(key)
	folder, _ := authorizations.ConfigString(a.Config, "folder")
	if folder == "" {
		folder = "."
	}
	files, err := client.List(ctx, folder)
	if err != nil {
		return out, fmt.Errorf("listing folder %q: %w", folder, err)
	}
	out["folder"] = folder
	out["files"] = len(files)
	if pin && !pinned {
		if _, err := t.Auths.Update(ctx, account, id, authorizations.Input{Config: map[string]any{"host_key": sftpclient.AuthorizedKey(key)}}); err != nil {
			return out, err
		}
		out["host_key_pinned"] = true
	}
	return out, nil
}
