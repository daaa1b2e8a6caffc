package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/redisserver"
)

// Targets of the import benchmark (docs/performance.md).
const (
	targetRatioLoopback = 1.5 // brazesync time / chain time on loopback
	targetRatioRTT      = 1.0 // through the delay proxy
	targetPeakMiB       = 150
)

func secs(d time.Duration) float64 { return d.Seconds() }

// printRound prints one round's figures.
func printRound(w io.Writer, r roundResult) {
	rows := r.worker.Counters["applied"]
	fmt.Fprintf(w, "\n== %s ==\n", r.round.name)
	hook := "with the audiences hook"
	if r.noHook {
		hook = "WITHOUT the audiences hook (diagnosis, not the product)"
	}
	fmt.Fprintf(w, "brazesync (importjob.Runner.Run, one worker process, %s):\n", hook)
	fmt.Fprintf(w, "  end to end       %7.2f s   (%.0f rows/s; worker process exec to exit %.2f s)\n",
		r.worker.Seconds, float64(rows)/r.worker.Seconds, secs(r.workerWall))
	fmt.Fprintf(w, "  of which staging %7.2f s   (connect, list, download, decrypt, decompress, parse, check, stage)\n", r.worker.StageSeconds)
	fmt.Fprintf(w, "  then applying   %7.2f s   (%.2f s inside profiles.Store.Upsert)\n",
		r.worker.Seconds-r.worker.StageSeconds, r.worker.UpsertSeconds)
	fmt.Fprintf(w, "  peak memory      %7.1f MiB VmHWM (getrusage maxrss %.1f MiB; peak Go heap in use %.1f MiB; %d GCs)\n",
		float64(r.worker.VmHWMKiB)/1024, float64(r.maxRSSKiB)/1024, r.worker.PeakHeapMiB, r.worker.NumGC)
	fmt.Fprintf(w, "  CPU              %7.2f s worker process, %.2f s Redis server\n", secs(r.workerCPU), secs(r.workerRedis))
	fmt.Fprintf(w, "  Redis commands   %s\n", formatCmds(r.workerCmds))
	fmt.Fprintf(w, "  Redis memory     %7.1f MiB added (used_memory)\n", float64(r.workerMem)/(1<<20))
	fmt.Fprintf(w, "chain of tools (sequential):\n")
	fmt.Fprintf(w, "  sftp -b get      %7.2f s\n", secs(r.chain.SFTPGet))
	fmt.Fprintf(w, "  gpg --decrypt    %7.2f s\n", secs(r.chain.GPGDecrypt))
	fmt.Fprintf(w, "  redis-cli --pipe %7.2f s   (%d HSETs of 18 fields)\n", secs(r.chain.RedisPipe), r.chain.Rows)
	fmt.Fprintf(w, "  total            %7.2f s   (CPU %.2f s tools, %.2f s Redis server)\n",
		secs(r.chain.Total()), secs(r.chain.CPU), secs(r.chainRedis))
	fmt.Fprintf(w, "  Redis commands   %s\n", formatCmds(r.chainCmds))
	fmt.Fprintf(w, "  Redis memory     %7.1f MiB added (used_memory)\n", float64(r.chainMem)/(1<<20))
	fmt.Fprintf(w, "ratio brazesync/chain %.2f\n", r.worker.Seconds/secs(r.chain.Total()))
}

// printSummary prints the setting and one table line per measurement, with
// the targets.
func printSummary(w io.Writer, sc *scene, results []roundResult) {
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "\n== summary ==\n")
	fmt.Fprintf(w, "file: %d rows, %.1f MB CSV (18 columns, 3 identities), %.1f MB gpg-encrypted (default compression)\n",
		sc.o.rows, float64(sc.csvBytes)/1e6, float64(sc.encBytes)/1e6)
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s; load average at the end: %s\n", host, runtime.NumCPU(), runtime.Version(),
		strings.Join(strings.Fields(string(load))[:3], " "))
	where := "shared with other clients"
	if sc.o.private {
		where = "a private redis-server started by the benchmark"
	}
	fmt.Fprintf(w, "Redis: %s (%s)\n", sc.redis.URL, where)
	fmt.Fprintf(w, "\n| round | brazesync s | rows/s | peak MiB | sftp get s | gpg s | redis-cli s | chain s | ratio | target |\n")
	fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		target := targetRatioLoopback
		if r.round.addr != sc.sshd.Addr {
			target = targetRatioRTT
		}
		ratio := r.worker.Seconds / secs(r.chain.Total())
		peak := float64(r.worker.VmHWMKiB) / 1024
		verdict := "met"
		if ratio > target || peak >= targetPeakMiB {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "| %s | %.2f | %.0f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | ≤ %.1f, < %d MiB: %s |\n",
			r.round.name, r.worker.Seconds, float64(r.worker.Counters["applied"])/r.worker.Seconds, peak,
			secs(r.chain.SFTPGet), secs(r.chain.GPGDecrypt), secs(r.chain.RedisPipe), secs(r.chain.Total()),
			ratio, target, targetPeakMiB, verdict)
	}
}

// formatCmds shows server time per command (INFO commandstats; commands run
// by scripts count under their own names as well as in evalsha).
func formatCmds(cmds []redisserver.CommandStat) string {
	var parts []string
	for _, c := range cmds {
		parts = append(parts, fmt.Sprintf("%s %.2f s/%d calls", c.Name, float64(c.Usec)/1e6, c.Calls))
	}
	if len(parts) == 0 {
		return "(INFO commandstats unavailable)"
	}
	return strings.Join(parts, ", ")
}
