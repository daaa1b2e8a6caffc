package importjob

import (
	"net"
	"strconv"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/sftpclient"
)

// Egress says how imports reach SFTP servers.
type Egress struct {
	// Policy is the egress policy that customers' servers pass
	// (BRAZESYNC_EGRESS_ALLOW). Nil: the default policy, which refuses
	// loopback, private, link-local and the other internal ranges.
	Policy *egress.Policy
	// Managed is the managed SFTP server as sftp_managed authorizations
	// name it, "host:port" (SFTP_PUBLIC_HOST, with SFTP_ADDR's port), or
	// "" without one.
	Managed string
}

// dialer returns how the server of a is reached. brazesync's own managed
// SFTP server is the operator's (configured by SFTP_PUBLIC_HOST, often an
// internal address), not a customer's: an sftp_managed authorization that
// points at it is dialled directly, without the policy and with no allow
// entry needed. Every other destination, an sftp_managed one whose host
// was changed to point elsewhere included, is customer-supplied and passes
// the policy on the address it resolves to.
func (e Egress) dialer(a *authorizations.Authorization, cfg sftpclient.Config) sftpclient.Dialer {
	base := net.Dialer{KeepAlive: 30 * time.Second}
	if a.Type == "sftp_managed" && e.Managed != "" && net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)) == e.Managed {
		return &base // operator-configured: exempt from the egress policy
	}
	return e.Policy.Dialer(base)
}
