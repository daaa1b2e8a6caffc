package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	binfo "github.com/brazesync/brazesync/internal/buildinfo"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// runBinary runs brazesync to completion (20 s at most) with env and
// returns its exit status, stdout and stderr.
func runBinary(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DATA_DIR=" + t.TempDir()}, env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("brazesync %s still ran after 20 s; stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("brazesync %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// The commands and admin subcommands a user can run.
var (
	commandNames = []string{"api", "worker", "scheduler", "sftpd", "dev", "admin", "ctl", "braze-sim", "version"}
	adminNames   = []string{"create-account", "create-token", "list-accounts", "migrate-profiles", "migrate-audiences", "migrate-index", "reseal"}
)

// TestTheNamesAreTheCommands keeps the lists the other tests walk in step
// with the commands brazesync has.
func TestTheNamesAreTheCommands(t *testing.T) {
	t.Parallel()
	var got, gotAdmin []string
	for _, c := range program(os.Getenv, io.Discard).Commands {
		got = append(got, c.Name)
		if c.Name == "admin" {
			for _, s := range c.Commands {
				gotAdmin = append(gotAdmin, s.Name)
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(commandNames, " ") || strings.Join(gotAdmin, " ") != strings.Join(adminNames, " ") {
		t.Fatalf("commands %v and admin commands %v; the tests know %v and %v", got, gotAdmin, commandNames, adminNames)
	}
}

// TestHelpRunsNothing: every help request prints the usage on stdout and
// exits 0, with an environment that would start the command (nothing
// starts) and with one that is invalid (it is not read).
func TestHelpRunsNothing(t *testing.T) {
	t.Parallel()
	_, url := redistest.DB(t)
	envs := map[string][]string{
		"valid": {"REDIS_URL=" + url, "BRAZESYNC_MASTER_KEY=" + masterKey, "BRAZESYNC_ADMIN_TOKEN=operator-token-0123456789",
			"HTTP_ADDR=" + freeAddr(t), "SFTP_ADDR=" + freeAddr(t), "BRAZE_SIM_ADDR=" + freeAddr(t)},
		"invalid": {"LOG_LEVEL=bogus", "REDIS_URL=ftp://nowhere"},
	}
	type request struct {
		args  []string
		usage string // how stdout starts
	}
	var requests []request
	for _, h := range []string{"help", "-h", "--help"} {
		requests = append(requests, request{[]string{h}, programSummary})
	}
	for _, c := range commandNames {
		want := "Usage: brazesync " + c
		requests = append(requests, request{[]string{c, "--help"}, want}, request{[]string{c, "-h"}, want}, request{[]string{"help", c}, want})
	}
	for _, s := range adminNames {
		want := "Usage: brazesync admin " + s
		requests = append(requests, request{[]string{"admin", s, "--help"}, want}, request{[]string{"admin", s, "-h"}, want},
			request{[]string{"help", "admin", s}, want}, request{[]string{"admin", "help", s}, want})
	}
	// Help after other arguments still wins.
	requests = append(requests,
		request{[]string{"admin", "create-account", "acme", "--help"}, "Usage: brazesync admin create-account"},
		request{[]string{"braze-sim", "--addr", "127.0.0.1:0", "-h"}, "Usage: brazesync braze-sim"})
	for name, env := range envs {
		for _, r := range requests {
			code, stdout, stderr := runBinary(t, env, r.args...)
			if code != 0 || !strings.HasPrefix(stdout, r.usage) || stderr != "" {
				t.Errorf("%s environment, brazesync %s: exit %d, stdout %q, stderr %q; want 0 and stdout starting %q",
					name, strings.Join(r.args, " "), code, firstLine(stdout), stderr, r.usage)
			}
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestHelpListsEveryCommand: the help lists each command and each admin
// command on one line.
func TestHelpListsEveryCommand(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runBinary(t, nil, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	lines := strings.Split(stdout, "\n")
	count := func(prefix string) int {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) && len(strings.TrimSpace(strings.TrimPrefix(l, prefix))) > 0 {
				n++
			}
		}
		return n
	}
	for _, c := range commandNames {
		if n := count("  " + c + " "); n != 1 {
			t.Errorf("command %s is on %d lines of the help, want 1:\n%s", c, n, stdout)
		}
	}
	for _, s := range adminNames {
		if n := count("    admin " + s + " "); n != 1 {
			t.Errorf("admin command %s is on %d lines of the help, want 1:\n%s", s, n, stdout)
		}
	}
}

// TestUsageErrorsExit2: a command line that does not fit prints what is
// wrong and the usage on stderr, exits 2 and reads no environment.
func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args           []string
		message, usage string
	}{
		{nil, "", programSummary},
		{[]string{"bogus"}, `brazesync: unknown command "bogus"`, programSummary},
		{[]string{"help", "bogus"}, `brazesync: unknown command "bogus"`, programSummary},
		{[]string{"admin"}, "brazesync admin: a command is needed", "Usage: brazesync admin COMMAND"},
		{[]string{"admin", "bogus"}, `brazesync admin: unknown command "bogus"`, "Usage: brazesync admin COMMAND"},
		{[]string{"admin", "create-account"}, "brazesync admin create-account: takes an account ID and an optional NAME", "Usage: brazesync admin create-account ID [NAME]"},
		{[]string{"admin", "create-account", "Not An ID"}, `brazesync admin create-account: "Not An ID" is not an account ID`, "Usage: brazesync admin create-account"},
		{[]string{"admin", "create-token", "acme"}, "brazesync admin create-token: takes ACCOUNT, NAME and SCOPE[,SCOPE]", "Usage: brazesync admin create-token"},
		{[]string{"admin", "create-token", "--expires", "soon", "acme", "n", "read"}, "brazesync admin create-token: invalid value", "Usage: brazesync admin create-token"},
		{[]string{"admin", "reseal", "now"}, `brazesync admin reseal: takes no arguments (got "now")`, "Usage: brazesync admin reseal"},
		{[]string{"api", "extra"}, `brazesync api: takes no arguments (got "extra")`, "Usage: brazesync api"},
		{[]string{"braze-sim", "--bogus"}, "brazesync braze-sim: flag provided but not defined: -bogus", "Usage: brazesync braze-sim"},
		{[]string{"version", "x"}, `brazesync version: takes no arguments (got "x")`, "Usage: brazesync version"},
	}
	for _, c := range cases {
		code, stdout, stderr := runBinary(t, nil, c.args...)
		msg, rest, _ := strings.Cut(stderr, "\n\n")
		if c.message == "" {
			rest = stderr
		}
		if code != 2 || stdout != "" || !strings.HasPrefix(msg, c.message) || !strings.HasPrefix(rest, c.usage) {
			t.Errorf("brazesync %s: exit %d, stdout %q, stderr:\n%s\nwant exit 2, %q then the usage %q", strings.Join(c.args, " "), code, stdout, stderr, c.message, c.usage)
		}
	}
}

// TestUnreachableRedis: each command that needs Redis prints one line
// naming REDIS_URL and the address, without the password, and exits 1.
func TestUnreachableRedis(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"api"}, {"worker"}, {"scheduler"}, {"sftpd"}, {"dev"}, {"admin", "list-accounts"}} {
		for _, url := range []string{"redis://127.0.0.1:1", "redis://:s3cret-password@127.0.0.1:1/2"} {
			t.Run(strings.Join(args, "-"), func(t *testing.T) {
				t.Parallel()
				env := []string{"REDIS_URL=" + url, "BRAZESYNC_MASTER_KEY=" + masterKey, "HTTP_ADDR=" + freeAddr(t), "SFTP_ADDR=" + freeAddr(t)}
				code, _, stderr := runBinary(t, env, args...)
				lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
				want := "brazesync: cannot reach Redis at 127.0.0.1:1 (REDIS_URL): "
				if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], want) || strings.Contains(stderr, "s3cret") {
					t.Errorf("%s with REDIS_URL %s: exit %d, stderr:\n%s\nwant exit 1 and one line starting %q, without the password", strings.Join(args, " "), url, code, stderr, want)
				}
			})
		}
	}
}

// TestVersion: one line with the module version, the VCS revision and
// whether the tree was modified, as the toolchain stamped them.
func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runBinary(t, nil, "version")
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	want := "brazesync " + binfo.Describe(bi) + "\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Fatalf("version: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && !strings.Contains(stdout, " revision "+s.Value+" (") {
			t.Errorf("version %q does not name the revision %s", stdout, s.Value)
		}
	}
}

// TestHelpNamesTheVariablesItReads: each command's --help names every
// variable that docs/operations.md's configuration table says it reads
// ("all" being api, worker, scheduler and sftpd).
func TestHelpNamesTheVariablesItReads(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	usage := map[string]string{}
	for _, c := range program(os.Getenv, io.Discard).Commands {
		usage[c.Name] = c.Usage
	}
	_, table, ok := strings.Cut(string(doc), "| variable | default | read by | meaning |")
	if !ok {
		t.Fatal("docs/operations.md has no configuration table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	variable := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	rows := 0
	for _, line := range strings.Split(table, "\n")[2:] {
		cells := strings.Split(line, " | ")
		if len(cells) < 4 {
			t.Fatalf("docs/operations.md: a row of the configuration table has %d cells: %s", len(cells), line)
		}
		rows++
		readers := strings.Split(cells[2], ", ")
		if cells[2] == "all" {
			readers = []string{"api", "worker", "scheduler", "sftpd"}
		}
		for _, m := range variable.FindAllStringSubmatch(cells[0], -1) {
			for _, r := range readers {
				u, ok := usage[r]
				if r == "ctl" {
					u, ok = ctlUsage(t), true
				}
				if !ok {
					t.Errorf("docs/operations.md: %s is read by %q, which is no command", m[1], r)
					continue
				}
				if !strings.Contains(u, m[1]) {
					t.Errorf("brazesync %s --help does not name %s, which docs/operations.md says it reads", r, m[1])
				}
			}
		}
	}
	if rows < 20 {
		t.Fatalf("docs/operations.md's configuration table has %d rows", rows)
	}
}

// ctlUsage is what brazesync ctl --help prints.
func ctlUsage(t *testing.T) string {
	t.Helper()
	code, stdout, _ := runBinary(t, nil, "ctl", "--help")
	if code != 0 {
		t.Fatalf("ctl --help: exit %d", code)
	}
	return stdout
}
