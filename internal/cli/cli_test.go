package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

var errConfig = errors.New("CONFIG_VAR: is wrong")

// testProgram records the arguments its commands ran with.
func testProgram(ran *[]string) *Program {
	runner := func(name string) func(context.Context, []string) error {
		return func(_ context.Context, args []string) error {
			*ran = append(*ran, name+" "+strings.Join(args, " "))
			switch {
			case len(args) > 0 && args[0] == "bad":
				return Usagef("takes no bad")
			case len(args) > 0 && args[0] == "config":
				return errConfig
			case len(args) > 0 && args[0] == "fail":
				return errors.New("it failed")
			}
			return nil
		}
	}
	return &Program{
		Name: "prog", Summary: "prog does things.", Footer: "See the manual.",
		Commands: []*Command{
			{Name: "serve", Summary: "serve things", Usage: "Usage: prog serve\n\nServes.\n", Run: runner("serve")},
			{Name: "admin", Summary: "administer:", Usage: "Usage: prog admin COMMAND\n", Commands: []*Command{
				{Name: "create", Summary: "create a thing", Usage: "Usage: prog admin create ID\n", Run: runner("create")},
				{Name: "list-all", Summary: "list the things", Usage: "Usage: prog admin list-all\n", Run: runner("list-all")},
			}},
		},
		ExitStatus: func(err error) int {
			if errors.Is(err, errConfig) {
				return ExitUsage
			}
			return ExitFailure
		},
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args           []string
		code           int
		stdout, stderr string // prefixes
		ran            string
	}{
		{[]string{"serve"}, 0, "", "", "serve "},
		{[]string{"admin", "create", "x"}, 0, "", "", "create x"},
		{[]string{"serve", "--", "-h"}, 0, "", "", "serve -- -h"},
		{[]string{"serve", "--help"}, 0, "Usage: prog serve\n\nServes.\n", "", ""},
		{[]string{"serve", "x", "-h"}, 0, "Usage: prog serve", "", ""},
		{[]string{"help", "serve"}, 0, "Usage: prog serve", "", ""},
		{[]string{"admin", "create", "-help"}, 0, "Usage: prog admin create ID", "", ""},
		{[]string{"admin", "help", "create"}, 0, "Usage: prog admin create ID", "", ""},
		{[]string{"help", "admin", "create"}, 0, "Usage: prog admin create ID", "", ""},
		{[]string{"admin", "--help"}, 0, "Usage: prog admin COMMAND\n\nCommands:\n  create    create a thing\n  list-all  list the things\n\nprog admin COMMAND --help prints a command's usage.\n", "", ""},
		{[]string{"help", "admin"}, 0, "Usage: prog admin COMMAND", "", ""},
		{[]string{"--help"}, 0, "prog does things.", "", ""},
		{nil, 2, "", "prog does things.", ""},
		{[]string{"nope"}, 2, "", "prog: unknown command \"nope\"\n\nprog does things.", ""},
		{[]string{"help", "nope"}, 2, "", "prog: unknown command \"nope\"", ""},
		{[]string{"admin"}, 2, "", "prog admin: a command is needed\n\nUsage: prog admin COMMAND", ""},
		{[]string{"admin", "nope"}, 2, "", "prog admin: unknown command \"nope\"\n\nUsage: prog admin COMMAND", ""},
		{[]string{"admin", "create", "bad"}, 2, "", "prog admin create: takes no bad\n\nUsage: prog admin create ID\n", "create bad"},
		{[]string{"serve", "config"}, 2, "", "prog: CONFIG_VAR: is wrong\n", "serve config"},
		{[]string{"serve", "fail"}, 1, "", "prog: it failed\n", "serve fail"},
	}
	for _, c := range cases {
		var ran []string
		var stdout, stderr bytes.Buffer
		code := testProgram(&ran).Run(context.Background(), c.args, &stdout, &stderr)
		if code != c.code || !strings.HasPrefix(stdout.String(), c.stdout) || !strings.HasPrefix(stderr.String(), c.stderr) ||
			(c.stdout == "" && stdout.Len() > 0) || (c.stderr == "" && stderr.Len() > 0) || strings.Join(ran, "|") != c.ran {
			t.Errorf("%q: exit %d, ran %q, stdout %q, stderr %q; want %d, ran %q, stdout %q..., stderr %q...",
				c.args, code, ran, stdout.String(), stderr.String(), c.code, c.ran, c.stdout, c.stderr)
		}
	}
}

func TestHelpListsCommandsAndSubcommands(t *testing.T) {
	t.Parallel()
	want := `prog does things.

Usage:
  prog COMMAND [ARGS]
  prog COMMAND --help    print a command's usage (also: prog help COMMAND)

Commands:
  serve             serve things
  admin             administer:
    admin create    create a thing
    admin list-all  list the things

See the manual.
`
	if got := testProgram(new([]string)).Help(); got != want {
		t.Errorf("help:\n%s\nwant:\n%s", got, want)
	}
}
