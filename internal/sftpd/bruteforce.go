package sftpd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// guard slows down and locks out repeated failed password logins. Its
// counters live in Redis so that every replica sees the same failures.
//
// Like OpenSSH's per-source penalties and SFTPGo's defender, it never lets
// one client's failures lock other clients out:
//
//   - a known username's failed passwords count per (username, address)
//     and lock only that pair (MaxUserFailures), and per username from all
//     addresses (MaxUserGlobalFailures, for a guess spread over many
//     addresses); a locked attempt is not counted again;
//   - unknown usernames' failures count per address and lock that address
//     for unknown usernames only (MaxAddrFailures): behind a shared address
//     (a NAT, a load balancer without PROXY protocol) the customers that
//     exist keep logging in;
//   - public-key logins are never locked out and never counted: a key
//     cannot be guessed, so the lockout would only shut out the key's
//     holder, above all brazesync's workers, which log in with the
//     authorization's worker key.
type guard struct {
	rdb     redis.UniversalClient
	keys    keys
	cfg     Config
	metrics *metrics
	logger  *slog.Logger
}

// Lockout scopes, the label of brazesync_sftpd_lockouts_total.
const (
	scopeUserAddress = "user_address"
	scopeUser        = "user"
	scopeAddress     = "address"
)

// lockedError says that a counter is locked out.
type lockedError struct {
	scope     string
	remaining time.Duration
}

func (e *lockedError) Error() string {
	what := map[string]string{
		scopeUserAddress: "password logins of this user from this address",
		scopeUser:        "password logins of this user",
		scopeAddress:     "logins of unknown users from this address",
	}[e.scope]
	return fmt.Sprintf("%s locked out for another %s after too many failed logins", what, e.remaining.Round(time.Second))
}

type counter struct {
	scope, key string
	limit      int
}

// userCounters are the counters of a known username's password logins.
func (g *guard) userCounters(username, ip string) []counter {
	return []counter{
		{scopeUserAddress, g.keys.failUserAddr(username, ip), g.cfg.MaxUserFailures},
		{scopeUser, g.keys.failUser(username), g.cfg.MaxUserGlobalFailures},
	}
}

// unknownCounters are the counters of logins with an unknown username.
func (g *guard) unknownCounters(ip string) []counter {
	return []counter{{scopeAddress, g.keys.failAddr(ip), g.cfg.MaxAddrFailures}}
}

// check returns a *lockedError if one of cs is locked out.
func (g *guard) check(ctx context.Context, cs []counter) error {
	for _, c := range cs {
		res, err := lockStateScript.Run(ctx, g.rdb, []string{c.key}).Int64Slice()
		if err != nil {
			return fmt.Errorf("reading login failures of %s: %w", c.scope, err)
		}
		if res[1] > 0 {
			return &lockedError{scope: c.scope, remaining: time.Duration(res[1]) * time.Millisecond}
		}
	}
	return nil
}

// fail records a failed login of username from ip against cs and returns
// how long to wait before answering: FailureDelay doubled for each earlier
// failure of the worst counter, capped at MaxFailureDelay.
func (g *guard) fail(ctx context.Context, cs []counter, username, ip string) (time.Duration, error) {
	var worst int64
	for _, c := range cs {
		res, err := failureScript.Run(ctx, g.rdb, []string{c.key},
			g.cfg.FailureWindow.Milliseconds(), c.limit, g.cfg.Lockout.Milliseconds()).Int64Slice()
		if err != nil {
			return g.cfg.MaxFailureDelay, fmt.Errorf("recording login failure of %s: %w", c.scope, err)
		}
		if res[2] == 1 {
			g.metrics.lockouts.WithLabelValues(c.scope).Inc()
			g.logger.LogAttrs(ctx, slog.LevelWarn, "sftp login locked out",
				slog.String("scope", c.scope), slog.String("username", username),
				slog.String("remote_ip", ip), slog.Int64("failures", res[0]),
				slog.Duration("lockout", g.cfg.Lockout))
		}
		worst = max(worst, res[0])
	}
	return failureDelay(g.cfg.FailureDelay, g.cfg.MaxFailureDelay, worst), nil
}

// failureDelay is base doubled for each failure after the first, capped.
func failureDelay(base, capDelay time.Duration, failures int64) time.Duration {
	d := base
	for i := int64(1); i < failures && d < capDelay; i++ {
		d *= 2
	}
	return min(d, capDelay)
}

// succeed forgets the failures of username from ip after a successful
// password login. The username's global counter is left to expire: a
// valid login from one address must not reset a guess spread over others.
func (g *guard) succeed(ctx context.Context, username, ip string) {
	if err := clearUnlessLockedScript.Run(ctx, g.rdb, []string{g.keys.failUserAddr(username, ip)}).Err(); err != nil {
		g.logger.LogAttrs(ctx, slog.LevelError, "clearing sftp login failures",
			slog.String("username", username), slog.String("remote_ip", ip), slog.String("error", err.Error()))
	}
}
