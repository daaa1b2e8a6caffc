package ctl

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/client"
	"github.com/brazesync/brazesync/internal/cli"
	"github.com/brazesync/brazesync/internal/config"
)

// run runs `brazesync ctl args...` with the environment vars and returns
// the exit status, stdout and stderr.
func run(t *testing.T, vars map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	p := &cli.Program{
		Name:     "brazesync",
		Commands: []*cli.Command{Command(func(k string) string { return vars[k] }, strings.NewReader(stdin), &out)},
		ExitStatus: func(err error) int {
			var ce *config.Error
			if errors.As(err, &ce) {
				return cli.ExitUsage
			}
			if code, ok := ExitStatus(err); ok {
				return code
			}
			return cli.ExitFailure
		},
	}
	code := p.Run(context.Background(), append([]string{"ctl"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestHelpNeedsNoEnvironment asks every command for its help with no
// variable set.
func TestHelpNeedsNoEnvironment(t *testing.T) {
	t.Parallel()
	var walk func(path []string, c *cli.Command)
	walk = func(path []string, c *cli.Command) {
		path = append(path, c.Name)
		code, out, errOut := run(t, nil, "", append(path[1:], "--help")...)
		if code != 0 || !strings.HasPrefix(out, "Usage: brazesync "+strings.Join(path, " ")) || errOut != "" {
			t.Errorf("%s --help: %d\n%s%s", strings.Join(path, " "), code, out, errOut)
		}
		for _, s := range c.Commands {
			walk(path, s)
		}
	}
	walk(nil, Command(func(string) string { return "" }, nil, nil))
}

func TestUsageErrorsExit2BeforeAnyRequest(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"BRAZESYNC_URL": "http://127.0.0.1:1", "BRAZESYNC_TOKEN": "t", "BRAZESYNC_ACCOUNT": "acme"}
	for _, args := range [][]string{
		{"jobs", "show"},
		{"jobs", "show", "a", "b"},
		{"jobs", "show", "a", "-o", "yaml"},
		{"jobs", "create"},
		{"jobs", "logs", "j", "--limit", "x"},
		{"auth", "create", "--file", "x.json", "--type", "braze"},
		{"auth", "create", "--config", "novalue"},
		{"auth", "create", "--type", "braze", "--config", "nothing=1"},
		{"tokens", "create", "n", "read", "--expires", "-1h"},
		{"audiences", "members", "vip", "--add", "email=a@b", "--limit", "5"},
		{"nothing"},
	} {
		code, out, errOut := run(t, vars, "", args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, "Usage: brazesync ctl") || out != "" {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

func TestConfigurationErrorsExit2(t *testing.T) {
	t.Parallel()
	code, _, errOut := run(t, map[string]string{}, "", "jobs", "list", "-a", "acme")
	if code != cli.ExitUsage || !strings.Contains(errOut, "BRAZESYNC_TOKEN") {
		t.Errorf("no token: %d %s", code, errOut)
	}
	code, _, errOut = run(t, map[string]string{"BRAZESYNC_TOKEN": "t"}, "", "jobs", "list")
	if code != cli.ExitUsage || !strings.Contains(errOut, "BRAZESYNC_ACCOUNT") {
		t.Errorf("no account: %d %s", code, errOut)
	}
}

func TestExitStatusOfAPIErrors(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]int{
		401: ExitAuth, 403: ExitAuth, 404: ExitNotFound, 400: ExitRefused, 409: ExitRefused, 413: ExitRefused, 422: ExitRefused,
		429: cli.ExitFailure, 500: cli.ExitFailure, 502: cli.ExitFailure, 503: cli.ExitFailure,
	} {
		if got, ok := ExitStatus(&client.Error{Status: status}); !ok || got != want {
			t.Errorf("%d: exit %d, want %d", status, got, want)
		}
	}
	if got, ok := ExitStatus(&testFailed{code: "auth_failed"}); !ok || got != ExitRefused {
		t.Errorf("failed test: %d", got)
	}
	if _, ok := ExitStatus(errors.New("dial tcp: refused")); ok {
		t.Error("a network error has a ctl status")
	}
}

func TestReadDocument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	yamlFile := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(yamlFile, []byte("type: csv_import\nauthorization_id: au_1\nconfig:\n  pattern: '*.csv'\n  keep_updated: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{stdin: strings.NewReader(`{"type": "braze_export_audience", "authorization_id": "au_2", "config": {"audiences": ["vip"]}}`)}
	var j client.JobInput
	if err := e.readDocument(yamlFile, &j); err != nil || j.Type != "csv_import" || j.Config.Pattern != "*.csv" || !j.Config.KeepUpdated {
		t.Fatalf("YAML: %+v %v", j, err)
	}
	j = client.JobInput{}
	if err := e.readDocument("-", &j); err != nil || j.AuthorizationID != "au_2" || j.Config.Audiences[0] != "vip" {
		t.Fatalf("JSON on stdin: %+v %v", j, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"type": "csv_import", "confg": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var ue *cli.UsageError
	if err := e.readDocument(bad, &j); !errors.As(err, &ue) || !strings.Contains(err.Error(), "confg") {
		t.Fatalf("a misspelt key: %v", err)
	}
	for body, want := range map[string]string{
		`{"type": "braze_export_audience", "config": {"audiences": "vip"}}`: "config.audiences must be a list, not a string",
		`{"type": "csv_import", "config": {"keep_updated": "yes"}}`:         "config.keep_updated must be true or false, not a string",
		`["csv_import"]`: "the document must be an object, not a list",
	} {
		if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		err := e.readDocument(bad, &client.JobInput{})
		if !errors.As(err, &ue) || !strings.HasSuffix(err.Error(), want) || strings.Contains(err.Error(), "Go ") {
			t.Errorf("%s: %v, want it to say %q", body, err, want)
		}
	}
}

func TestUnknownConfigKeysAreNamedWithTheKnownOnes(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"BRAZESYNC_URL": "http://127.0.0.1:1", "BRAZESYNC_TOKEN": "t", "BRAZESYNC_ACCOUNT": "acme"}
	for _, c := range []struct {
		args []string
		says []string
	}{
		{[]string{"auth", "create", "--type", "braze", "--config", "instanse=US-01"}, []string{`--config: unknown key "instanse"`, "known keys: instance, rest_endpoint,", "host_key"}},
		{[]string{"auth", "create", "--type", "braze", "--secret", "apikey=k"}, []string{`--secret: unknown key "apikey"`, "api_key"}},
		{[]string{"auth", "create", "--type", "sftp", "--config", "port=twenty-two"}, []string{"--config: port must be a whole number"}},
	} {
		code, _, errOut := run(t, vars, "", c.args...)
		if code != cli.ExitUsage || strings.Contains(errOut, "json:") {
			t.Errorf("%q: exit %d\n%s", c.args, code, errOut)
		}
		for _, w := range c.says {
			if !strings.Contains(errOut, w) {
				t.Errorf("%q: %q does not say %q", c.args, errOut, w)
			}
		}
	}
}

func TestKeyValues(t *testing.T) {
	t.Parallel()
	l := kvList{"port=2222", "host=sftp.example.com", "pinned=true", "key=a=b", "zip=01234"}
	got := l.values()
	if got["port"] != float64(2222) || got["host"] != "sftp.example.com" || got["pinned"] != true || got["key"] != "a=b" || got["zip"] != "01234" {
		t.Fatalf("values %v", got)
	}
}
