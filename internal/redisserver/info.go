package redisserver

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// CPU is the Redis server's CPU time so far (INFO cpu, user and system),
// in seconds.
func CPU(ctx context.Context, rdb redis.UniversalClient) (float64, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("reading Redis INFO cpu: %w", err)
	}
	total := 0.0
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("reading Redis INFO cpu: %s %q: %w", k, v, err)
			}
			total += f
		}
	}
	return total, nil
}

// CommandStat is what one command took on the server: its calls and their
// microseconds (INFO commandstats).
type CommandStat struct {
	Name  string
	Calls int64
	Usec  int64
}

// CommandStats reads INFO commandstats, by command name (server-wide: every
// client of the server counts).
func CommandStats(ctx context.Context, rdb redis.UniversalClient) (map[string]CommandStat, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("reading Redis INFO commandstats: %w", err)
	}
	out := map[string]CommandStat{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		st := CommandStat{Name: name}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls", "usec":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("reading Redis INFO commandstats: %s of %s %q: %w", k, name, v, err)
				}
				if k == "calls" {
					st.Calls = n
				} else {
					st.Usec = n
				}
			}
		}
		out[name] = st
	}
	return out, nil
}

// TopCommands returns the n commands that took the most server time
// between two CommandStats snapshots, most first, each with what it took
// in between.
func TopCommands(before, after map[string]CommandStat, n int) []CommandStat {
	var d []CommandStat
	for name, a := range after {
		b := before[name]
		if a.Usec > b.Usec {
			d = append(d, CommandStat{Name: name, Calls: a.Calls - b.Calls, Usec: a.Usec - b.Usec})
		}
	}
	slices.SortFunc(d, func(x, y CommandStat) int { return cmp.Compare(y.Usec, x.Usec) })
	return d[:min(n, len(d))]
}
