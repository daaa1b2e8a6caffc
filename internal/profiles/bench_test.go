package profiles_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/cputime"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// brazeRecord is a Braze-shaped record: 18 fields, 3 of them identities
// (braze_id, email, twitter_handle) in the braze_users mapping.
func brazeRecord(i int) map[string]any {
	return map[string]any{
		"braze_id":              fmt.Sprintf("5f%014x", i),
		"email":                 fmt.Sprintf("user%d@example.com", i),
		"twitter_handle":        fmt.Sprintf("@user%d", i),
		"first_name":            "Ann",
		"last_name":             fmt.Sprintf("Lee%d", i%1000),
		"gender":                "F",
		"language":              "th",
		"city":                  "Bangkok",
		"country":               "TH",
		"time_zone":             "GMT+7",
		"phone_number":          fmt.Sprintf("+66%09d", i),
		"date_of_birth":         "19820101",
		"session_count":         float64(i % 97),
		"created_at":            "2020-03-04T05:06:07Z",
		"last_session":          "2026-01-02T03:04:05Z",
		"random_bucket":         float64(i % 10000),
		"in_app_purchase_total": 12.5,
		"created_from":          "iOS",
	}
}

func benchRecords() int { return envInt("PROFILES_BENCH_RECORDS", 500_000) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchChunk is how many records the benchmark hands to one Upsert call, as
// the CSV import hands over staged rows.
const benchChunk = 5000

// compactRecords holds the benchmark's records the way the CSV import holds
// staged rows: every value in one string, no pointer per value, so that
// holding 500,000 records does not make the garbage collector scan them all.
type compactRecords struct {
	names []string
	buf   string
	ends  []uint32 // end of each value in buf, len(names) per record
}

func newCompactRecords(n int) compactRecords {
	first := brazeRecord(0)
	c := compactRecords{ends: make([]uint32, 0, n*len(first))}
	for k := range first {
		c.names = append(c.names, k)
	}
	var b strings.Builder
	for i := range n {
		f := brazeRecord(i)
		for _, k := range c.names {
			b.WriteString(fmt.Sprint(f[k]))
			c.ends = append(c.ends, uint32(b.Len()))
		}
	}
	c.buf = b.String()
	return c
}

// fill sets recs[j] to record start+j, reusing the field maps.
func (c compactRecords) fill(recs []profiles.Record, start int, t time.Time) {
	nf := len(c.names)
	for j := range recs {
		m := recs[j].Strings
		if m == nil {
			m = make(map[string]string, nf)
		}
		base := (start + j) * nf
		for k, name := range c.names {
			from := uint32(0)
			if base+k > 0 {
				from = c.ends[base+k-1]
			}
			m[name] = c.buf[from:c.ends[base+k]]
		}
		recs[j] = profiles.Record{Strings: m, EventTime: t}
	}
}

// BenchmarkUpsertBraze loads N (default 500,000; PROFILES_BENCH_RECORDS)
// Braze-shaped records into fresh profiles with Store.Upsert, benchChunk
// records a call with the field maps reused (as the CSV import feeds it),
// then loads the same records as plain HSETs with `redis-cli --pipe`, and
// reports both rates and their ratio. Run it once: -bench UpsertBraze
// -benchtime 1x.
func BenchmarkUpsertBraze(b *testing.B) {
	n := benchRecords()
	rdb, ns := redistest.Client(b)
	s := profiles.New(rdb, ns, nil, profiles.Options{})
	ctx := context.Background()
	recs := newCompactRecords(n)
	chunk := make([]profiles.Record, benchChunk)
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var upsertRate, goCPU, redisCPU float64
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		acct := "bench-" + redistest.RandomID()
		cpu0, rcpu0 := cputime.Process(), cputime.RedisServer(ctx, rdb)
		start := time.Now()
		applied := 0
		for from := 0; from < n; from += benchChunk {
			part := chunk[:min(benchChunk, n-from)]
			recs.fill(part, from, t)
			res, err := s.Upsert(ctx, acct, profiles.BrazeUsersStream, part)
			if err != nil || len(res.Rejected) > 0 {
				b.Fatalf("Upsert: %v, rejected %v", err, res.Rejected)
			}
			applied += res.Applied
		}
		el := time.Since(start)
		goCPU, redisCPU = cputime.Process()-cpu0, cputime.RedisServer(ctx, rdb)-rcpu0
		if applied != n {
			b.Fatalf("Upsert applied %d of %d", applied, n)
		}
		upsertRate = float64(n) / el.Seconds()
	}
	b.StopTimer()
	b.ReportMetric(upsertRate, "records/s")
	b.ReportMetric(goCPU, "go_cpu_s")
	b.ReportMetric(redisCPU, "redis_cpu_s")

	pipeRate, err := redisCLIPipeRate(string(ns)+":pipe", n)
	if err != nil {
		b.Logf("redis-cli --pipe baseline skipped: %v", err)
		return
	}
	b.ReportMetric(pipeRate, "pipe_records/s")
	b.ReportMetric(upsertRate/pipeRate, "ratio")
}

// redisCLIPipeRate writes n records as HSET commands (one hash per record,
// the same 18 fields) in RESP, feeds them to `redis-cli --pipe` and returns
// records per second, including redis-cli's start.
func redisCLIPipeRate(prefix string, n int) (float64, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	arg := func(s string) {
		buf.WriteString("$")
		buf.WriteString(strconv.Itoa(len(s)))
		buf.WriteString("\r\n")
		buf.WriteString(s)
		buf.WriteString("\r\n")
	}
	for i := range n {
		f := brazeRecord(i)
		buf.WriteString("*" + strconv.Itoa(2+2*len(f)) + "\r\n")
		arg("HSET")
		arg(prefix + ":" + strconv.Itoa(i))
		for k, v := range f {
			arg(k)
			arg(fmt.Sprint(v))
		}
	}
	cmd := exec.Command("redis-cli", "-u", redistest.URL(), "--pipe")
	cmd.Stdin = &buf
	start := time.Now()
	out, err := cmd.CombinedOutput()
	el := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("redis-cli --pipe: %v: %s", err, out)
	}
	return float64(n) / el.Seconds(), nil
}
