package config

import (
	"fmt"
	"net/url"
	"strings"
)

// CtlURLDefault is BRAZESYNC_URL when unset: the API of `brazesync dev` and
// of `brazesync api` with the default HTTP_ADDR.
const CtlURLDefault = "http://127.0.0.1:8080"

// Ctl is the configuration of `brazesync ctl`, the API's command-line
// client.
type Ctl struct {
	// URL is BRAZESYNC_URL: the API's base URL, without /api/v1.
	URL string
	// Token is BRAZESYNC_TOKEN: an account token, or the operator token
	// for the operator's commands (accounts).
	Token string
	// Account is BRAZESYNC_ACCOUNT: the account commands act on when they
	// are given no --account ("" for none).
	Account string
}

// LoadCtl reads the configuration of `brazesync ctl` through getenv.
func LoadCtl(getenv func(string) string) (*Ctl, error) {
	c := &Ctl{
		URL:     strings.TrimRight(or(strings.TrimSpace(getenv("BRAZESYNC_URL")), CtlURLDefault), "/"),
		Token:   strings.TrimSpace(getenv("BRAZESYNC_TOKEN")),
		Account: strings.TrimSpace(getenv("BRAZESYNC_ACCOUNT")),
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, &Error{"BRAZESYNC_URL", fmt.Sprintf("%q is not the API's base URL, such as http://127.0.0.1:8080", c.URL)}
	}
	if strings.HasSuffix(u.Path, "/api/v1") {
		return nil, &Error{"BRAZESYNC_URL", fmt.Sprintf("%q names /api/v1; give the base URL without it", c.URL)}
	}
	if c.Token == "" {
		return nil, &Error{"BRAZESYNC_TOKEN", "is required: an API token of the account (or the operator token, BRAZESYNC_ADMIN_TOKEN, for accounts)"}
	}
	return c, nil
}
