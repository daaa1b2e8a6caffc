package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// chainResult times the standard tools doing the import's work one after
// the other.
type chainResult struct {
	SFTPGet    time.Duration
	GPGDecrypt time.Duration
	RedisPipe  time.Duration
	CPU        time.Duration // user+system time of the three tools
	Rows       int
}

func (c chainResult) Total() time.Duration { return c.SFTPGet + c.GPGDecrypt + c.RedisPipe }

// chainSpec says where the tools fetch, decrypt and load.
type chainSpec struct {
	Host, Port, User, KeyFile string // sftp
	Remote                    string // remote path of the encrypted file
	GNUPGHome, Passphrase     string // gpg
	Redis                     redisTarget
	Work                      string // local directory for the files
}

// runChain runs `sftp -b` get, `gpg --decrypt` to a file and
// `redis-cli --pipe` of one HSET per row; only the three tools are timed
// (writing the RESP file from the decrypted CSV is not).
func runChain(ctx context.Context, spec chainSpec) (chainResult, error) {
	var res chainResult
	got := filepath.Join(spec.Work, "chain.csv.gpg")
	plain := filepath.Join(spec.Work, "chain.csv")
	resp := filepath.Join(spec.Work, "chain.resp")
	for _, p := range []string{got, plain, resp} {
		_ = os.Remove(p)
	}
	defer func() {
		for _, p := range []string{got, plain, resp} {
			_ = os.Remove(p)
		}
	}()

	sftp := exec.CommandContext(ctx, "sftp", "-q", "-i", spec.KeyFile, "-P", spec.Port,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		"-b", "-", spec.User+"@"+spec.Host)
	sftp.Stdin = strings.NewReader("get " + spec.Remote + " " + got + "\n")
	d, cpu, err := timed(sftp, nil)
	if err != nil {
		return res, fmt.Errorf("sftp get: %w", err)
	}
	res.SFTPGet, res.CPU = d, res.CPU+cpu

	gpg := exec.CommandContext(ctx, "gpg", "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback",
		"--passphrase", spec.Passphrase, "--output", plain, "--decrypt", got)
	gpg.Env = append(os.Environ(), "GNUPGHOME="+spec.GNUPGHome)
	d, cpu, err = timed(gpg, nil)
	if err != nil {
		return res, fmt.Errorf("gpg --decrypt: %w", err)
	}
	res.GPGDecrypt, res.CPU = d, res.CPU+cpu

	if res.Rows, err = writeRESP(plain, resp); err != nil {
		return res, err
	}
	in, err := os.Open(resp)
	if err != nil {
		return res, err
	}
	defer in.Close()
	cli := exec.CommandContext(ctx, "redis-cli", append(spec.Redis.cliArgs(), "--pipe")...)
	cli.Stdin = in
	var report bytes.Buffer
	d, cpu, err = timed(cli, &report)
	if err != nil {
		return res, fmt.Errorf("redis-cli --pipe: %w", err)
	}
	if !bytes.Contains(report.Bytes(), []byte("errors: 0,")) {
		return res, fmt.Errorf("redis-cli --pipe reported errors: %s", report.Bytes())
	}
	res.RedisPipe, res.CPU = d, res.CPU+cpu
	return res, nil
}

// timed runs cmd and returns its wall time and CPU time; the error carries
// its output, which also goes to out when not nil.
func timed(cmd *exec.Cmd, out *bytes.Buffer) (time.Duration, time.Duration, error) {
	if out == nil {
		out = &bytes.Buffer{}
	}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, 0, fmt.Errorf("%v: %s", err, out.Bytes())
	}
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// writeRESP turns the CSV rows into one HSET per row (key chain:<Braze ID>,
// every column as a field) in Redis's protocol, for redis-cli --pipe.
func writeRESP(csvPath, respPath string) (int, error) {
	in, err := os.Open(csvPath)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.Create(respPath)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	r := csv.NewReader(bufio.NewReaderSize(in, 1<<20))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		_ = out.Close()
		return 0, fmt.Errorf("reading %s: %w", csvPath, err)
	}
	header = append([]string(nil), header...)
	arg := func(s string) {
		w.WriteByte('$')
		w.WriteString(strconv.Itoa(len(s)))
		w.WriteString("\r\n")
		w.WriteString(s)
		w.WriteString("\r\n")
	}
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = out.Close()
			return rows, fmt.Errorf("reading %s: %w", csvPath, err)
		}
		w.WriteString("*" + strconv.Itoa(2+2*len(rec)) + "\r\n")
		arg("HSET")
		arg("chain:" + rec[0])
		for i, v := range rec {
			arg(header[i])
			arg(v)
		}
		rows++
	}
	if err := w.Flush(); err != nil {
		_ = out.Close()
		return rows, err
	}
	return rows, out.Close()
}
