package sftpd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// guard slows down and locks out repeated failed logins. Its counters live
// in Redis so that every replica sees the same failures: one per username
// and one per client address, each a single global key.
type guard struct {
	rdb     redis.UniversalClient
	keys    keys
	cfg     Config
	metrics *metrics
	logger  *slog.Logger
}

// lockedError says that a username or an address is locked out.
type lockedError struct {
	scope     string // "user" or "address"
	remaining time.Duration
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("%s locked out for another %s after too many failed logins", e.scope, e.remaining.Round(time.Second))
}

type counter struct{ scope, key string }

func (g *guard) counters(username, ip string) []counter {
	cs := []counter{{"address", g.keys.failAddr(ip)}}
	if usernamePattern.MatchString(username) {
		cs = append(cs, counter{"user", g.keys.failUser(username)})
	}
	return cs
}

// check returns a *lockedError if username or ip is locked out.
func (g *guard) check(ctx context.Context, username, ip string) error {
	for _, c := range g.counters(username, ip) {
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

// fail records a failed login of username from ip and returns how long to
// wait before answering: FailureDelay doubled for each earlier failure of
// the worse of the two counters, capped at MaxFailureDelay.
func (g *guard) fail(ctx context.Context, username, ip string) (time.Duration, error) {
	var worst int64
	for _, c := range g.counters(username, ip) {
		limit := g.cfg.MaxAddrFailures
		if c.scope == "user" {
			limit = g.cfg.MaxUserFailures
		}
		res, err := failureScript.Run(ctx, g.rdb, []string{c.key},
			g.cfg.FailureWindow.Milliseconds(), limit, g.cfg.Lockout.Milliseconds()).Int64Slice()
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

// succeed forgets the failures of username after a successful login. The
// address counter is left to expire: one valid login must not reset an
// address that is guessing other users' passwords.
func (g *guard) succeed(ctx context.Context, username string) {
	if !usernamePattern.MatchString(username) {
		return
	}
	if err := clearUnlessLockedScript.Run(ctx, g.rdb, []string{g.keys.failUser(username)}).Err(); err != nil {
		g.logger.LogAttrs(ctx, slog.LevelError, "clearing sftp login failures",
			slog.String("username", username), slog.String("error", err.Error()))
	}
}
