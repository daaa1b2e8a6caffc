package importjob

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// The test binary doubles as an importing worker that gets killed: with
// holderEnv set, TestMain runs holdLease instead of the tests.
const holderEnv = "IMPORTJOB_TEST_HOLDER"

func TestMain(m *testing.M) {
	if os.Getenv(holderEnv) != "" {
		if err := holdLease(); err != nil {
			fmt.Fprintln(os.Stderr, "holder:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// holdLease takes the job's lease for a run and starts importing a file
// whose reader stops half way: the staging file exists and the ledger says
// importing, as in a worker killed while importing. It prints the lease's
// token, then waits to be killed.
func holdLease() error {
	opt, err := redis.ParseURL(redistest.URL())
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	im := csvimport.NewImporter(rdb, keyspace.Namespace(os.Getenv("HOLDER_NS")), nil)
	im.SetLeaseTTL(time.Second)
	job := csvimport.Job{Account: os.Getenv("HOLDER_ACCOUNT"), ID: os.Getenv("HOLDER_JOB")}
	l, err := im.Acquire(context.Background(), job, os.Getenv("HOLDER_RUN"))
	if err != nil {
		return err
	}
	data, err := os.ReadFile(os.Getenv("HOLDER_FILE"))
	if err != nil {
		return err
	}
	half := io.MultiReader(bytes.NewReader(data[:len(data)/2]), blockForever{})
	open := func(context.Context) (io.ReadCloser, error) {
		fmt.Println(l.Token()) // the staging file is about to be written
		return io.NopCloser(half), nil
	}
	st, _ := os.Stat(os.Getenv("HOLDER_FILE"))
	v := csvimport.FileVersion{Path: os.Getenv("HOLDER_PATH"), Size: st.Size(), ModTime: st.ModTime()}
	_, err = l.ImportFile(l.Context(), v, open, csvimport.Config{TempDir: os.Getenv("HOLDER_TEMP")}, discardSink{})
	return err
}

type blockForever struct{}

func (blockForever) Read([]byte) (int, error) { select {} }

type discardSink struct{}

func (discardSink) Apply(_ context.Context, recs []csvimport.Record) (int, []csvimport.Rejection, error) {
	return len(recs), nil, nil
}

// TestTakeOverFromAKilledWorker: a worker process killed while importing
// (SIGKILL) leaves its lease to expire; the watch of its run sees it die
// and says to run it again; the run takes the import over: the file is
// imported once, the run's counters are right, the log says so, and the
// dead worker's staging file is gone.
func TestTakeOverFromAKilledWorker(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	b.importer.SetLeaseTTL(time.Second)
	ctx := context.Background()
	local := b.sshd.WriteFile(t, "in/users.csv", usersCSV("k", 3000))
	j := b.job(t, map[string]any{"folder": "in", "file": "users.csv"}, "")
	run, err := b.jobs.StartRun(ctx, b.acct, j.ID, "", "manual")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"=1", "HOLDER_NS="+string(b.ns), "HOLDER_ACCOUNT="+b.acct, "HOLDER_JOB="+j.ID,
		"HOLDER_RUN="+run.ID, "HOLDER_FILE="+local, "HOLDER_PATH=in/users.csv", "HOLDER_TEMP="+b.temp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the holder said nothing: %v: %s", err, stderr.String())
	}
	w := Watch{Account: b.acct, JobID: j.ID, RunID: run.ID, Token: strings.TrimSpace(line)}
	poll.Until(t, 10*time.Second, "the holder's staging file", func() bool {
		m, _ := filepath.Glob(filepath.Join(b.temp, "csvimport-*.stage"))
		return len(m) == 1
	})
	if v, err := b.runner.Check(ctx, w); v != VerdictWait || err != nil {
		t.Fatalf("while the holder lives: %v %v", v, err)
	}
	// Another run of the job waits for the holder.
	if _, err := b.runner.Run(ctx, j, run); err == nil || !strings.Contains(err.Error(), "another import of this job is running") {
		t.Fatalf("a run while the holder lives: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	poll.Until(t, 10*time.Second, "the watch to see the holder dead", func() bool {
		v, err := b.runner.Check(ctx, w)
		return err == nil && v == VerdictResume
	})
	if d := time.Since(killed); d > 3*time.Second {
		t.Errorf("the death of a holder with a 1s lease was seen after %s", d)
	}
	res, err := b.runner.Run(ctx, j, run)
	if err != nil || res.Imported != 1 {
		t.Fatalf("the run taken over: %+v %v", res, err)
	}
	if c := b.counters(t, j, run); c["files_imported"] != 1 || c["rows_read"] != 3000 || c["applied"] != 3000 {
		t.Fatalf("counters %v", c)
	}
	if !hasLog(b.logs(t, j), "import_taken_over", "run "+run.ID) {
		t.Fatalf("log: %+v", b.logs(t, j))
	}
	if m, _ := filepath.Glob(filepath.Join(b.temp, "csvimport-*")); len(m) != 0 {
		t.Fatalf("staging files left: %v", m)
	}
	if v, err := b.runner.Check(ctx, w); v != VerdictDone || err != nil {
		t.Fatalf("after the takeover: %v %v", v, err)
	}
	// The original task, run again once the run ended, does nothing.
	if err := b.jobs.FinishRun(ctx, b.acct, j.ID, run.ID, "success", ""); err != nil {
		t.Fatal(err)
	}
	ended, _ := b.jobs.GetRun(ctx, b.acct, j.ID, run.ID)
	if res, err := b.runner.Run(ctx, j, ended); err != nil || !res.Finished {
		t.Fatalf("a run that ended: %+v %v", res, err)
	}
	if c := b.counters(t, j, run); c["files_imported"] != 1 || c["applied"] != 3000 {
		t.Fatalf("counters after the second task %v", c)
	}
	select {
	case asked := <-b.watches.asked:
		if asked.RunID != run.ID || asked.Token == w.Token {
			t.Fatalf("watch asked: %+v", asked)
		}
	default:
		t.Fatal("the run that took over asked for no watch of its own")
	}
}
