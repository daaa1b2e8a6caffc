package authorizations

import (
	"net/url"
	"strings"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
)

// BrazeOptions are the operator's rules for Braze endpoints.
type BrazeOptions struct {
	// AllowInsecure permits plain-http endpoints (a simulator):
	// BRAZESYNC_ALLOW_INSECURE_ENDPOINTS.
	AllowInsecure bool
	// AllowCustomEndpoints permits endpoints outside Braze's domains
	// (*.braze.com, *.braze.eu): BRAZESYNC_ALLOW_CUSTOM_BRAZE_ENDPOINTS.
	AllowCustomEndpoints bool
	// Egress refuses literal internal addresses (BRAZESYNC_EGRESS_ALLOW);
	// nil is the default policy.
	Egress *egress.Policy
}

// BrazeDestination is where a braze authorization sends its API key: the
// instance (upper case) or the endpoint with its scheme and host in lower
// case and no trailing slash.
func BrazeDestination(a *Authorization) string {
	if ep, _ := ConfigString(a.Config, "rest_endpoint"); ep != "" {
		ep = strings.TrimRight(strings.TrimSpace(ep), "/")
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			ep = strings.ToLower(u.Scheme+"://"+u.Host) + u.EscapedPath()
		}
		return "braze endpoint " + ep
	}
	inst, _ := ConfigString(a.Config, "instance")
	return "braze instance " + strings.ToUpper(strings.TrimSpace(inst))
}

// BrazeType is the "braze" authorization: a workspace's REST API key and
// where to send it.
func BrazeType(opts BrazeOptions) Type {
	return Type{
		Name:            "braze",
		Config:          []string{"instance", "rest_endpoint", "rate_limit", "rate_limit_window_seconds", "batch_size", "max_connections", "max_array_items"},
		Secrets:         []string{"api_key"},
		Destination:     BrazeDestination,
		DestinationKeys: []string{"instance", "rest_endpoint"},
		BoundSecrets:    []string{"api_key"},
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
				return &fault.ValidationError{Field: "config.rest_endpoint", Message: "give either instance or rest_endpoint, not both"}
			case inst == "" && ep == "":
				return &fault.ValidationError{Field: "config.instance", Message: "is required (or config.rest_endpoint): one of " + strings.Join(braze.Instances(), ", ")}
			case inst != "":
				if _, err := braze.InstanceEndpoint(inst); err != nil {
					return &fault.ValidationError{Field: "config.instance", Message: err.Error()}
				}
			default:
				if err := checkBrazeEndpoint(ep, opts); err != nil {
					return err
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
			if _, err := BrazeMaxArrayItems(a); err != nil {
				return err
			}
			if strings.TrimSpace(secrets["api_key"]) == "" {
				return &fault.ValidationError{Field: "secrets.api_key", Message: "is required: the workspace's REST API key with the users.track permission"}
			}
			return nil
		},
	}
}

// checkBrazeEndpoint applies the operator's rules to a rest_endpoint: a
// literal internal address is a *DestinationError; anything else wrong
// (scheme, credentials, query, fragment, a host outside Braze's domains)
// a *fault.ValidationError.
func checkBrazeEndpoint(ep string, opts BrazeOptions) error {
	if u, err := url.Parse(strings.TrimSpace(ep)); err == nil && u.Host != "" {
		if err := opts.Egress.CheckHost(u.Hostname()); err != nil {
			return &DestinationError{"config.rest_endpoint", err}
		}
	}
	if _, err := braze.CheckEndpoint(ep, opts.AllowInsecure, opts.AllowCustomEndpoints); err != nil {
		return &fault.ValidationError{Field: "config.rest_endpoint", Message: err.Error()}
	}
	return nil
}

// MaxArrayItemsDefault is the most items a Braze array attribute keeps
// unless a braze authorization says otherwise (max_array_items): Braze's
// default maximum array length. Past it Braze drops the oldest items.
const MaxArrayItemsDefault = 500

// BrazeMaxArrayItems is the max_array_items of a braze authorization: the
// most items the workspace keeps in an array attribute.
func BrazeMaxArrayItems(a *Authorization) (int, error) {
	return ConfigInt(a.Config, "max_array_items", MaxArrayItemsDefault, 1, 100_000)
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
