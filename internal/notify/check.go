package notify

import (
	"net/url"
	"slices"
	"strings"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
)

// maxURL bounds a notify URL's length.
const maxURL = 2048

// Checker checks notify settings when they are saved.
type Checker struct {
	// AllowInsecure permits plain-http URLs
	// (BRAZESYNC_ALLOW_INSECURE_ENDPOINTS, as for Braze endpoints).
	AllowInsecure bool
	// Egress is the policy deliveries pass; a URL whose host is a literal
	// address it refuses is refused now.
	Egress *egress.Policy
}

// Check returns the settings normalised (events deduplicated in the
// documented order), a *fault.ValidationError naming notify.url or
// notify.events, or an *egress.ForbiddenError for a literal address the
// egress policy refuses.
func (c Checker) Check(rawURL string, events []string) (*jobs.Notify, error) {
	u, err := c.checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, fault.Invalidf("notify.events", "needs at least one of %v", jobs.Events)
	}
	var out []string
	for _, e := range events {
		if !slices.Contains(jobs.Events, e) {
			return nil, fault.Invalidf("notify.events", "%q is not one of %v", e, jobs.Events)
		}
	}
	for _, e := range jobs.Events {
		if slices.Contains(events, e) {
			out = append(out, e)
		}
	}
	return &jobs.Notify{URL: u, Events: out}, nil
}

func (c Checker) checkURL(raw string) (string, error) {
	in := strings.TrimSpace(raw)
	if in == "" {
		return "", fault.Invalid("notify.url", "is required")
	}
	if len(in) > maxURL {
		return "", fault.Invalidf("notify.url", "is over %d characters", maxURL)
	}
	u, err := url.Parse(in)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fault.Invalid("notify.url", "is not an absolute URL such as https://hooks.example.com/brazesync")
	}
	shown := u.Redacted() // never echo a password
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && c.AllowInsecure:
	case u.Scheme == "http":
		return "", fault.Invalidf("notify.url", "%q uses plain http: only https is allowed (plain http needs BRAZESYNC_ALLOW_INSECURE_ENDPOINTS=true)", shown)
	case c.AllowInsecure:
		return "", fault.Invalidf("notify.url", "%q: scheme must be https or http (this server allows plain http)", shown)
	default:
		return "", fault.Invalidf("notify.url", "%q: scheme must be https", shown)
	}
	if u.User != nil {
		return "", fault.Invalidf("notify.url", "%q must not carry credentials: deliveries are signed instead", shown)
	}
	if u.Fragment != "" || strings.Contains(in, "#") {
		return "", fault.Invalidf("notify.url", "%q must not carry a fragment", shown)
	}
	if err := c.Egress.CheckHost(u.Hostname()); err != nil {
		return "", err
	}
	return u.String(), nil
}
