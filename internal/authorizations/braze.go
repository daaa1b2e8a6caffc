package authorizations

import (
	"net/url"
	"strings"

	"github.com/brazesync/brazesync/internal/braze"
)

// BrazeType is the "braze" authorization: a workspace's REST API key and
// where to send it. allowInsecure permits plain-http endpoints (simulator).
func BrazeType(allowInsecure bool) Type {
	return Type{
		Name:    "braze",
		Config:  []string{"instance", "rest_endpoint", "rate_limit", "rate_limit_window_seconds", "batch_size", "max_connections"},
		Secrets: []string{"api_key"},
		Validate: func(a *Authorization, secrets map[string]string) error {
			inst, err := ConfigString(a.Config, "instance")
			if err != nil {
				return err
			}
			ep, err := ConfigString(a.Config, "rest_endpoint")
			if err != nil {
				return err
			}
			switch {
			case inst != "" && ep != "":
				return &ValidationError{"config.rest_endpoint", "give either instance or rest_endpoint, not both"}
			case inst == "" && ep == "":
				return &ValidationError{"config.instance", "is required (or config.rest_endpoint): one of " + strings.Join(braze.Instances(), ", ")}
			case inst != "":
				if _, err := braze.InstanceEndpoint(inst); err != nil {
					return &ValidationError{"config.instance", err.Error()}
				}
			default:
				u, err := url.Parse(ep)
				if err != nil || u.Host == "" || (u.Scheme != "https" && !(allowInsecure && u.Scheme == "http")) {
					msg := "must be an https URL such as https://rest.iad-01.braze.com"
					if allowInsecure {
						msg = "must be an http or https URL"
					}
					return &ValidationError{"config.rest_endpoint", msg}
				}
			}
			if _, err := ConfigInt(a.Config, "batch_size", 75, 1, 75); err != nil {
				return err
			}
			if _, err := ConfigInt(a.Config, "rate_limit", 3000, 1, 1_000_000); err != nil {
				return err
			}
			if _, err := ConfigInt(a.Config, "rate_limit_window_seconds", 3, 1, 3600); err != nil {
				return err
			}
			if _, err := ConfigInt(a.Config, "max_connections", 16, 1, 256); err != nil {
				return err
			}
			if strings.TrimSpace(secrets["api_key"]) == "" {
				return &ValidationError{"secrets.api_key", "is required: the workspace's REST API key with the users.track permission"}
			}
			return nil
		},
	}
}

// BrazeEndpoint returns the REST endpoint of a validated braze authorization.
func BrazeEndpoint(a *Authorization) string {
	if ep, _ := ConfigString(a.Config, "rest_endpoint"); ep != "" {
		return strings.TrimRight(ep, "/")
	}
	inst, _ := ConfigString(a.Config, "instance")
	ep, _ := braze.InstanceEndpoint(inst)
	return ep
}
