package csvimport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/pgp"
	"github.com/brazesync/brazesync/internal/sftpclient"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
)

// brazeHeader is a segment export's header, 18 columns.
var brazeHeader = []string{
	"Braze ID", "user_id", "email", "first_name", "last_name", "gender", "date_of_birth",
	"country", "city", "language", "phone_number", "time_zone", "created_at", "first_session",
	"last_session", "session_count", "random_bucket", "unsubscribed_from_emails_at",
}

// writeBrazeCSV writes rows Braze-shaped rows to path (about 200 bytes each).
func writeBrazeCSV(tb testing.TB, path string, rows int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	first := []string{"Ana", "Bo", "Chloé", "Dmitri", "Eve", "François", "Gita", "Hiro"}
	last := []string{"Smith", "García", "Müller", "Nguyen", "O'Brien", "Rossi", "Tanaka"}
	cities := []string{"Paris", "New York", "São Paulo", "Berlin", "Tokyo", "Lagos", "Austin, TX"}
	fmt.Fprintln(w, `"`+brazeHeader[0]+`",`+strings.Join(brazeHeader[1:], ","))
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < rows; i++ {
		created := base.Add(time.Duration(r.IntN(1500*24)) * time.Hour)
		lastSeen := created.Add(time.Duration(r.IntN(300*24)) * time.Hour)
		city := cities[r.IntN(len(cities))]
		if strings.Contains(city, ",") {
			city = `"` + city + `"`
		}
		unsub := ""
		if r.IntN(10) == 0 {
			unsub = lastSeen.Format("2006-01-02 15:04:05 UTC")
		}
		fmt.Fprintf(w, "%024x,user-%08d,user%d@example.com,%s,%s,%s,%04d-%02d-%02d,US,%s,en,+1555%07d,America/New_York,%s,%s,%s,%d,%d,%s\n",
			r.Uint64()<<32|uint64(i), i, i, first[r.IntN(len(first))], last[r.IntN(len(last))],
			[]string{"M", "F", "O", ""}[r.IntN(4)], 1950+r.IntN(55), 1+r.IntN(12), 1+r.IntN(28),
			city, r.IntN(10000000), created.Format("2006-01-02 15:04:05 UTC"),
			created.Format("2006-01-02 15:04:05 UTC"), lastSeen.Format("2006-01-02 15:04:05 UTC"),
			r.IntN(500), r.IntN(10000), unsub)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// countSink counts records; the real profile sink comes later.
type countSink struct{ n atomic.Int64 }

func (c *countSink) Apply(_ context.Context, recs []Record) (int, []Rejection, error) {
	c.n.Add(int64(len(recs)))
	return len(recs), nil, nil
}

// peakRSS resets and reads the process's peak resident set (VmHWM).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// heapSampler records the peak HeapInuse while running.
func heapSampler() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak }
}

// BenchmarkEndToEndSFTPPGP imports a Braze segment export (500,000 rows,
// about 100 MB; CSVIMPORT_BENCH_ROWS overrides), gpg-encrypted, from OpenSSH
// on loopback: download + decrypt + parse + stage + apply into a counting
// sink. It also times `sftp get` + `gpg --decrypt` of the same file.
//
//	go test -run '^$' -bench EndToEnd -benchtime 1x ./internal/csvimport/
func BenchmarkEndToEndSFTPPGP(b *testing.B) {
	rows := 500_000
	if v := os.Getenv("CSVIMPORT_BENCH_ROWS"); v != "" {
		rows, _ = strconv.Atoi(v)
	}
	s := sshdtest.Start(b, sshdtest.Options{})
	g := sshdtest.NewGPG(b)
	uid := "bench@example.com"
	g.GenKey(b, uid, "default", "")
	key := parseKey(b, g, uid)

	tmp := b.TempDir()
	plain := filepath.Join(tmp, "users.csv")
	writeBrazeCSV(b, plain, rows)
	st, _ := os.Stat(plain)
	s.Mkdir(b, "export")
	encPath := filepath.Join(s.Dir, "export", "users.csv.gpg")
	g.EncryptFile(b, plain, encPath, uid)
	s.Own(b, "export/users.csv.gpg")
	enc, _ := os.Stat(encPath)
	b.Logf("file: %d rows, %.1f MB CSV, %.1f MB encrypted (gpg default: compressed)",
		rows, float64(st.Size())/1e6, float64(enc.Size())/1e6)

	// Baseline: OpenSSH sftp get, then gpg --decrypt.
	keyFile := filepath.Join(tmp, "id")
	if err := os.WriteFile(keyFile, s.ClientKeyPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	got := filepath.Join(tmp, "got.gpg")
	t0 := time.Now()
	cmd := exec.Command("sftp", "-q", "-i", keyFile, "-P", strconv.Itoa(s.Port),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-b", "-",
		s.User+"@"+s.Host)
	cmd.Stdin = strings.NewReader("get export/users.csv.gpg " + got + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("sftp get: %v: %s", err, out)
	}
	sftpGet := time.Since(t0)
	t0 = time.Now()
	g.Run(b, nil, "--output", "/dev/null", "--decrypt", got)
	gpgDecrypt := time.Since(t0)

	rdb, ns := redistest.Client(b)
	im := NewImporter(rdb, ns, nil)
	cfg := Config{TempDir: tmp, PGPKey: key, RequireEncryption: true,
		TimestampColumns: []string{"last_session", "created_at"}}

	for i := 0; b.Loop(); i++ {
		runtime.GC()
		resetPeakRSS()
		stopHeap := heapSampler()
		start := time.Now()
		c, err := sftpclient.Dial(context.Background(), sftpclient.Config{
			Host: s.Host, Port: s.Port, Username: s.User, PrivateKey: s.ClientKeyPEM, HostKey: s.HostKeyAuthorized,
		})
		if err != nil {
			b.Fatal(err)
		}
		fi, err := c.Stat(context.Background(), "export/users.csv.gpg")
		if err != nil {
			b.Fatal(err)
		}
		sink := &countSink{}
		v := FileVersion{Path: fi.Path, Size: fi.Size, ModTime: fi.ModTime}
		open := func(ctx context.Context) (io.ReadCloser, error) { return c.Open(ctx, fi.Path) }
		rep, err := im.ImportFile(context.Background(), Job{Account: "bench", ID: fmt.Sprint("job", i)}, v, open, cfg, sink)
		elapsed := time.Since(start)
		_ = c.Close()
		heap := stopHeap()
		if err != nil {
			b.Fatal(err)
		}
		if sink.n.Load() != int64(rows) || rep.Rejected != 0 {
			b.Fatalf("applied %d of %d rows, %d rejected: %+v", sink.n.Load(), rows, rep.Rejected, rep.Rejections)
		}
		b.ReportMetric(elapsed.Seconds(), "s/import")
		b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric((sftpGet + gpgDecrypt).Seconds(), "s/sftp+gpg")
		b.Logf("brazesync import: %.2fs (%.0f rows/s, %.1f MB/s of CSV), peak RSS %.0f MiB, peak heap %.0f MiB",
			elapsed.Seconds(), float64(rows)/elapsed.Seconds(), float64(st.Size())/1e6/elapsed.Seconds(),
			float64(peakRSS())/(1<<20), float64(heap)/(1<<20))
		b.Logf("  stage (download, decrypt, decompress, parse, check, stage) %.2fs, apply %.2fs",
			rep.StageTime.Seconds(), rep.ApplyTime.Seconds())
		b.Logf("baseline: sftp get %.2fs + gpg --decrypt %.2fs = %.2fs (no parsing, no staging)",
			sftpGet.Seconds(), gpgDecrypt.Seconds(), (sftpGet + gpgDecrypt).Seconds())
	}
}

func parseKey(tb testing.TB, g *sshdtest.GPG, uid string) *pgp.Key {
	tb.Helper()
	k, err := pgp.ParsePrivateKey(g.ExportSecret(tb, uid, ""), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
