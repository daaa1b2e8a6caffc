// Package cputime reads CPU time for benchmarks: this process's and the
// Redis server's, so that a benchmark can say where its time went.
package cputime

import (
	"context"
	"syscall"
	"time"

	"github.com/brazesync/brazesync/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// Process is this process's CPU time so far (user and system), in seconds.
func Process() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// RedisServer is the Redis server's CPU time so far (INFO cpu, user and
// system), in seconds; 0 when it cannot be read.
func RedisServer(ctx context.Context, rdb redis.UniversalClient) float64 {
	s, err := redisserver.CPU(ctx, rdb)
	if err != nil {
		return 0
	}
	return s
}
