// Package redisconn turns REDIS_URL into one go-redis UniversalClient, the
// single Redis connection pool that a brazesync process shares with Asynq.
//
// Accepted forms:
//
//	redis://[:password@]host:port[/db]        one server
//	rediss://[:password@]host:port[/db]       one server over TLS
//	redis-sentinel://[:password@]h1:26379,h2:26379[/db]?master=NAME
//	redis-cluster://[:password@]h1:7000,h2:7001  (or redis:// with several hosts)
package redisconn

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Options parses a REDIS_URL into UniversalOptions.
func Options(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	hosts := strings.Split(u.Host, ",")
	for _, h := range hosts {
		if h == "" {
			return nil, fmt.Errorf("empty host in %q", redact(u))
		}
	}
	opt := &redis.UniversalOptions{Addrs: addrs(hosts, u.Scheme)}
	if u.User != nil {
		opt.Username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			opt.Password = p
		}
		if opt.Username != "" && opt.Password == "" {
			// redis://secret@host is a common way to write a password.
			opt.Password, opt.Username = opt.Username, ""
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("database %q is not a number", db)
		}
		opt.DB = n
	}
	switch u.Scheme {
	case "redis":
		if len(hosts) > 1 {
			opt.IsClusterMode = true
		}
	case "rediss":
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: strings.Split(hosts[0], ":")[0]}
		if len(hosts) > 1 {
			opt.IsClusterMode = true
		}
	case "redis-cluster":
		opt.IsClusterMode = true
	case "redis-sentinel":
		opt.MasterName = u.Query().Get("master")
		if opt.MasterName == "" {
			return nil, fmt.Errorf("redis-sentinel URL needs ?master=NAME")
		}
		opt.SentinelPassword = u.Query().Get("sentinel_password")
	default:
		return nil, fmt.Errorf("scheme %q is not one of redis, rediss, redis-sentinel, redis-cluster", u.Scheme)
	}
	if opt.IsClusterMode && opt.DB != 0 {
		return nil, fmt.Errorf("database %d: a Redis Cluster has only database 0", opt.DB)
	}
	return opt, nil
}

func addrs(hosts []string, scheme string) []string {
	def := "6379"
	if scheme == "redis-sentinel" {
		def = "26379"
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h += ":" + def
		}
		out[i] = h
	}
	return out
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// Address names the servers of a REDIS_URL for messages, without
// credentials: "host:port", "h1:7000,h2:7001" (a cluster) or "master NAME
// via sentinels h1:26379,h2:26379".
func Address(raw string) string {
	o, err := Options(raw)
	if err != nil {
		return "an invalid URL"
	}
	addrs := strings.Join(o.Addrs, ",")
	if o.MasterName != "" {
		return fmt.Sprintf("master %s via sentinels %s", o.MasterName, addrs)
	}
	return addrs
}

// New returns the client for REDIS_URL.
func New(raw string) (redis.UniversalClient, error) {
	opt, err := Options(raw)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opt), nil
}

// AsynqOpt returns the Asynq connection option for REDIS_URL, for the few
// components that build their own client (asynqmon).
func AsynqOpt(raw string) (asynq.RedisConnOpt, error) {
	o, err := Options(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case o.IsClusterMode:
		return asynq.RedisClusterClientOpt{Addrs: o.Addrs, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig}, nil
	case o.MasterName != "":
		return asynq.RedisFailoverClientOpt{MasterName: o.MasterName, SentinelAddrs: o.Addrs, SentinelPassword: o.SentinelPassword, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig}, nil
	}
	return asynq.RedisClientOpt{Addr: o.Addrs[0], Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig}, nil
}
