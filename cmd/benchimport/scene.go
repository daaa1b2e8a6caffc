package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/opensshd"
	"github.com/brazesync/brazesync/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

const (
	account    = "bench"
	pgpUID     = "benchimport@example.com"
	passphrase = "bench-pw"
	remoteDir  = "export"
	remoteName = "users.csv.gpg"
)

// scene is what every round shares: sshd with the encrypted file, the gpg
// home that made it, and the Redis database.
type scene struct {
	o        options
	sshd     *opensshd.Server
	gpg      *opensshd.GPG
	work     string
	keyFile  string // the sftp client's private key, for the sftp tool
	csvBytes int64
	encBytes int64
	boxKey   []byte
	redis    redisTarget
	rdb      *redis.Client
	stores   *stores
	pgpKey   []byte // armored secret key, passphrase-protected
	// removeWork is set when work is a temporary directory of the run.
	removeWork bool
}

// close stops sshd and gpg's agent, closes the stores and removes a
// temporary work directory.
func (sc *scene) close() {
	if sc.gpg != nil {
		sc.gpg.Close()
	}
	if sc.sshd != nil {
		sc.sshd.Close()
	}
	if sc.stores != nil {
		_ = sc.stores.rdb.Close()
	}
	if sc.removeWork {
		_ = os.RemoveAll(sc.work)
	}
}

// round is one way to reach sshd: directly or through the delay proxy.
type round struct {
	name string
	addr string
}

// roundResult is one measurement of both sides.
type roundResult struct {
	round       round
	worker      workerResult
	workerWall  time.Duration // the worker process, exec to exit
	workerCPU   time.Duration
	maxRSSKiB   int64 // getrusage of the worker process, a check on VmHWM
	workerRedis time.Duration
	chain       chainResult
	chainRedis  time.Duration
	noHook      bool
	workerCmds  []redisserver.CommandStat // Redis commands that took the most time
	chainCmds   []redisserver.CommandStat
	// Redis used_memory each side added (the database starts empty).
	workerMem, chainMem int64
}

// setUp starts sshd, makes a gpg key, generates the CSV and puts it,
// encrypted, on the server.
func setUp(ctx context.Context, o options, rt redisTarget, rdb *redis.Client) (_ *scene, err error) {
	sc := &scene{o: o, redis: rt, rdb: rdb}
	defer func() {
		if err != nil {
			sc.close()
		}
	}()
	if sc.work, sc.removeWork, err = workDir(o); err != nil {
		return nil, err
	}
	work := sc.work
	sc.boxKey = make([]byte, 32)
	if _, err := hex.Decode(sc.boxKey, []byte(randomHex(32))); err != nil {
		return nil, err
	}
	if sc.stores, err = newStores(rt.URL, sc.boxKey, true, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}

	fmt.Fprintf(os.Stderr, "starting sshd, generating a gpg key and %d rows...\n", o.rows)
	if sc.sshd, err = opensshd.Start(opensshd.Options{}); err != nil {
		return nil, err
	}
	if sc.gpg, err = opensshd.NewGPG(); err != nil {
		return nil, err
	}
	if _, err := sc.gpg.GenKey(pgpUID, "default", passphrase); err != nil {
		return nil, err
	}
	if sc.pgpKey, err = sc.gpg.ExportSecret(pgpUID, passphrase); err != nil {
		return nil, err
	}
	sc.keyFile = filepath.Join(work, "sftp_client_key")
	if err := os.WriteFile(sc.keyFile, sc.sshd.ClientKeyPEM, 0o600); err != nil {
		return nil, err
	}
	plain := filepath.Join(work, "users.csv")
	start := time.Now()
	if err := writeBrazeCSV(plain, o.rows); err != nil {
		return nil, err
	}
	defer os.Remove(plain)
	if _, err := sc.sshd.Mkdir(remoteDir); err != nil {
		return nil, err
	}
	enc := filepath.Join(sc.sshd.Dir, remoteDir, remoteName)
	if err := sc.gpg.EncryptFile(plain, enc, pgpUID); err != nil { // gpg's defaults: compressed, binary
		return nil, err
	}
	if err := sc.sshd.Own(filepath.Join(remoteDir, remoteName)); err != nil {
		return nil, err
	}
	st, err := os.Stat(plain)
	if err != nil {
		return nil, err
	}
	sc.csvBytes = st.Size()
	if st, err = os.Stat(enc); err != nil {
		return nil, err
	}
	sc.encBytes = st.Size()
	fmt.Fprintf(os.Stderr, "file ready in %.1fs: %d rows, %.1f MB CSV, %.1f MB encrypted\n",
		time.Since(start).Seconds(), o.rows, float64(sc.csvBytes)/1e6, float64(sc.encBytes)/1e6)
	return sc, nil
}

// createJob makes the sftp_pgp authorization (host key pinned) and the
// csv_import job that imports the file through addr.
func (sc *scene) createJob(ctx context.Context, addr string) (*jobs.Job, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var port int
	fmt.Sscan(portText, &port)
	label := "benchmark server"
	a, _, err := sc.stores.auths.Create(ctx, account, authorizations.Input{Type: "sftp_pgp", Label: &label,
		Config: map[string]any{"host": host, "port": float64(port), "username": sc.sshd.User,
			"folder": filepath.Join(sc.sshd.Dir, remoteDir), "host_key": sc.sshd.HostKeyAuthorized},
		Secrets: map[string]string{"private_key": string(sc.sshd.ClientKeyPEM),
			"pgp_private_key": string(sc.pgpKey), "pgp_passphrase": passphrase}})
	if err != nil {
		return nil, fmt.Errorf("creating the authorization: %w", err)
	}
	jl := "benchmark import"
	j, err := sc.stores.jobs.Create(ctx, account, jobs.Input{Type: importjob.TypeName, Label: &jl, AuthorizationID: &a.ID,
		Config: map[string]any{"file": remoteName, "timestamp_columns": []any{"last_session", "created_at"}}})
	if err != nil {
		return nil, fmt.Errorf("creating the job: %w", err)
	}
	return j, nil
}

// measure runs the worker, then the chain, each on an empty database.
func (sc *scene) measure(ctx context.Context, r round, n int) (roundResult, error) {
	res := roundResult{round: r, noHook: sc.o.noHook}
	if err := sc.rdb.FlushDB(ctx).Err(); err != nil {
		return res, err
	}
	j, err := sc.createJob(ctx, r.addr)
	if err != nil {
		return res, err
	}
	stage := filepath.Join(sc.work, "stage")
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return res, err
	}
	args := []string{"-worker", "-redis", sc.redis.URL, "-account", account, "-job", j.ID, "-tmp", stage,
		"-hook=" + strconv.FormatBool(!sc.o.noHook)}
	if sc.o.profile != "" {
		if err := os.MkdirAll(sc.o.profile, 0o755); err != nil {
			return res, err
		}
		tag := fmt.Sprintf("%s-%d", map[bool]string{true: "loopback", false: "rtt"}[r.addr == sc.sshd.Addr], n+1)
		args = append(args, "-cpuprofile", filepath.Join(sc.o.profile, "cpu-"+tag+".pprof"),
			"-memprofile", filepath.Join(sc.o.profile, "heap-"+tag+".pprof"))
	}
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	fmt.Fprintf(os.Stderr, "%s: brazesync worker importing...\n", r.name)
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), boxKeyEnv+"="+hex.EncodeToString(sc.boxKey))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	redisBefore, statsBefore, memBefore := serverCPU(ctx, sc.rdb), commandStats(ctx, sc.rdb), usedMemory(ctx, sc.rdb)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("worker process: %w", err)
	}
	res.workerWall = time.Since(start)
	res.workerRedis = serverCPU(ctx, sc.rdb) - redisBefore
	res.workerCmds = redisserver.TopCommands(statsBefore, commandStats(ctx, sc.rdb), 6)
	res.workerMem = usedMemory(ctx, sc.rdb) - memBefore
	res.workerCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSSKiB = ru.Maxrss
	}
	if err := json.Unmarshal(stdout.Bytes(), &res.worker); err != nil {
		return res, fmt.Errorf("reading the worker's result %q: %w", stdout.String(), err)
	}
	if got := res.worker.Counters["applied"]; got != int64(sc.o.rows) || res.worker.Imported != 1 {
		return res, fmt.Errorf("the worker applied %d rows of %d (files imported: %d, counters %v)", got, sc.o.rows, res.worker.Imported, res.worker.Counters)
	}
	if c, err := sc.stores.prof.Count(ctx, account); err != nil || c != int64(sc.o.rows) {
		return res, fmt.Errorf("profiles after the import: %d, want %d (%v)", c, sc.o.rows, err)
	}

	if err := sc.rdb.FlushDB(ctx).Err(); err != nil {
		return res, err
	}
	host, port, _ := net.SplitHostPort(r.addr)
	fmt.Fprintf(os.Stderr, "%s: chain of tools (sftp get, gpg --decrypt, redis-cli --pipe)...\n", r.name)
	redisBefore, statsBefore, memBefore = serverCPU(ctx, sc.rdb), commandStats(ctx, sc.rdb), usedMemory(ctx, sc.rdb)
	res.chain, err = runChain(ctx, chainSpec{Host: host, Port: port, User: sc.sshd.User, KeyFile: sc.keyFile,
		Remote: remoteDir + "/" + remoteName, GNUPGHome: sc.gpg.Home, Passphrase: passphrase,
		Redis: sc.redis, Work: sc.work})
	if err != nil {
		return res, err
	}
	res.chainRedis = serverCPU(ctx, sc.rdb) - redisBefore
	res.chainCmds = redisserver.TopCommands(statsBefore, commandStats(ctx, sc.rdb), 3)
	res.chainMem = usedMemory(ctx, sc.rdb) - memBefore
	if res.chain.Rows != sc.o.rows {
		return res, fmt.Errorf("the chain loaded %d rows, want %d", res.chain.Rows, sc.o.rows)
	}
	if size, err := sc.rdb.DBSize(ctx).Result(); err != nil || size != int64(sc.o.rows) {
		return res, fmt.Errorf("keys after redis-cli --pipe: %d, want %d (%v)", size, sc.o.rows, err)
	}
	return res, sc.rdb.FlushDB(ctx).Err()
}
