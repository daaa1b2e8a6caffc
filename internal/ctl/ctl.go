// Package ctl is `brazesync ctl`, the command-line client of the HTTP API:
// accounts, tokens, authorizations, jobs, audiences and profiles, through
// the public client package. It prints tables for people and, with
// -o json, the API's answers for scripts. BRAZESYNC_URL, BRAZESYNC_TOKEN
// and BRAZESYNC_ACCOUNT are read by internal/config.
package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/brazesync/brazesync/client"
	"github.com/brazesync/brazesync/internal/cli"
	"github.com/brazesync/brazesync/internal/config"
	"go.yaml.in/yaml/v3"
)

// Exit statuses of ctl beside cli's (0 ok, 1 other failures, 2 usage and
// configuration).
const (
	// ExitNotFound: the account or the resource does not exist (404).
	ExitNotFound = 3
	// ExitRefused: the API refused the request as it stands: a bad value,
	// a conflict, a body too large (400, 409, 413, 422), or a failed
	// connection test.
	ExitRefused = 4
	// ExitAuth: the token is missing, wrong, revoked or lacks the scope
	// (401, 403).
	ExitAuth = 5
)

// ExitStatus is the exit status of an error a ctl command returned, and
// whether ctl knows the error.
func ExitStatus(err error) (int, bool) {
	var tf *testFailed
	if errors.As(err, &tf) {
		return ExitRefused, true
	}
	var e *client.Error
	if !errors.As(err, &e) {
		return 0, false
	}
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ExitAuth, true
	case http.StatusNotFound:
		return ExitNotFound, true
	case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return ExitRefused, true
	}
	return cli.ExitFailure, true
}

// MaxFileBytes bounds the JSON and YAML files commands read.
const MaxFileBytes = 1 << 20

// env is what the commands run with.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
}

// Command returns the ctl command and its subcommands.
func Command(getenv func(string) string, stdin io.Reader, stdout io.Writer) *cli.Command {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout}
	return &cli.Command{
		Name:    "ctl",
		Summary: "the API from the command line (BRAZESYNC_URL, BRAZESYNC_TOKEN):",
		Usage:   ctlUsage,
		Commands: []*cli.Command{
			e.accountsCommand(),
			e.tokensCommand(),
			e.authCommand(),
			e.jobsCommand(),
			e.audiencesCommand(),
			e.profilesCommand(),
		},
	}
}

// flags are a command's flags: -o always, --account for the commands of
// an account.
type flags struct {
	fs      *flag.FlagSet
	output  string
	account string
}

func newFlags(name string, account bool) *flags {
	f := &flags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	f.fs.StringVar(&f.output, "o", "table", "")
	f.fs.StringVar(&f.output, "output", "table", "")
	if account {
		f.fs.StringVar(&f.account, "account", "", "")
		f.fs.StringVar(&f.account, "a", "", "")
	}
	return f
}

// parse reads the flags wherever they stand among args (up to a "--") and
// returns the other arguments, of which there must be from min to max
// (max < 0: any number).
func (f *flags) parse(args []string, min, max int) ([]string, error) {
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, cli.Usagef("%v", err)
		}
		args = f.fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	pos = append(pos, rest...)
	if f.output != "table" && f.output != "json" {
		return nil, cli.Usagef("-o %q: use table or json", f.output)
	}
	switch {
	case len(pos) < min:
		return nil, cli.Usagef("missing arguments")
	case max >= 0 && len(pos) > max:
		return nil, cli.Usagef("too many arguments: %q", pos[max:])
	}
	return pos, nil
}

// client reads the configuration and returns a client of the API.
func (e *env) client() (*client.Client, *config.Ctl, error) {
	cfg, err := config.LoadCtl(e.getenv)
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg.URL, cfg.Token, client.WithUserAgent("brazesync-ctl"))
	if err != nil {
		return nil, nil, &config.Error{Var: "BRAZESYNC_URL", Reason: err.Error()}
	}
	return c, cfg, nil
}

// accountClient is client, and the account the command acts on: --account,
// else BRAZESYNC_ACCOUNT.
func (e *env) accountClient(f *flags) (*client.Client, string, error) {
	c, cfg, err := e.client()
	if err != nil {
		return nil, "", err
	}
	acct := f.account
	if acct == "" {
		acct = cfg.Account
	}
	if acct == "" {
		return nil, "", cli.Usagef("no account: give --account ACCOUNT or set BRAZESYNC_ACCOUNT")
	}
	return c, acct, nil
}

// print writes v as JSON (-o json), or the table that table writes.
func (e *env) print(f *flags, v any, table func(w io.Writer)) error {
	if f.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// showOne is the shape of a command about one named thing of an account:
// it parses args with f (exactly one argument besides the flags), asks get
// (a method expression of *client.Client, or alike) with the account's
// client and prints the answer as JSON or as table writes it.
func showOne[T any](ctx context.Context, e *env, f *flags, args []string, get func(c *client.Client, ctx context.Context, acct, name string) (T, error), table func(w io.Writer, v T)) error {
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	v, err := get(c, ctx, acct, pos[0])
	if err != nil {
		return err
	}
	return e.print(f, v, func(w io.Writer) { table(w, v) })
}

// listAll is the shape of a command that lists things of an account: no
// argument besides the flags, list (a method expression of *client.Client,
// or alike) asked with the account's client, its answer printed as JSON or
// as table writes it.
func listAll[T any](ctx context.Context, e *env, f *flags, args []string, list func(c *client.Client, ctx context.Context, acct string) (T, error), table func(w io.Writer, v T)) error {
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	v, err := list(c, ctx, acct)
	if err != nil {
		return err
	}
	return e.print(f, v, func(w io.Writer) { table(w, v) })
}

// row writes one tab-separated line.
func row(w io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprint(w, c)
	}
	fmt.Fprintln(w)
}

// readDocument reads a JSON or YAML document from path ("-": stdin) into v,
// strictly: a key v does not know is an error. YAML is read from .yaml and
// .yml files, and from stdin when the document does not start with {.
func (e *env) readDocument(path string, v any) error {
	var r io.Reader
	if path == "-" {
		r = e.stdin
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return cli.Usagef("--file: %v", err)
		}
		defer fh.Close()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return cli.Usagef("--file %s: over %d bytes", path, MaxFileBytes)
	}
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".yaml" || ext == ".yml" || (path == "-" && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))) {
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return cli.Usagef("--file %s: not YAML: %v", path, err)
		}
		if data, err = json.Marshal(doc); err != nil {
			return cli.Usagef("--file %s: %v", path, err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return cli.Usagef("--file %s: %s", path, decodeProblem(err))
	}
	return nil
}

// kvList is a repeatable KEY=VALUE flag.
type kvList []string

func (l *kvList) String() string { return strings.Join(*l, ",") }

func (l *kvList) Set(s string) error {
	if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	*l = append(*l, s)
	return nil
}

// values returns the pairs: a VALUE that is a JSON number, true, false or
// null is that, anything else a string.
func (l kvList) values() map[string]any {
	out := map[string]any{}
	for _, kv := range l {
		k, v, _ := strings.Cut(kv, "=")
		var x any
		if err := json.Unmarshal([]byte(v), &x); err == nil {
			switch x.(type) {
			case float64, bool, nil:
				out[k] = x
				continue
			}
		}
		out[k] = v
	}
	return out
}

// orDash is s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
