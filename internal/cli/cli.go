// Package cli runs a command-line program made of commands and
// subcommands: it finds the command that a command line names, answers
// help requests (help, -h, --help) before any command runs, and turns what
// a command returns into an exit status and a message on stderr.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitFailure = 1
	// ExitUsage is a command line or a configuration that cannot work.
	ExitUsage = 2
)

// Command is a command of a program, or a subcommand of a command.
type Command struct {
	// Name is the word that selects the command.
	Name string
	// Summary is the command's line in its parent's help.
	Summary string
	// Usage is the command's help: "Usage: PROGRAM COMMAND ..." first,
	// then what it does, its flags and its environment.
	Usage string
	// Run runs the command with the arguments after its name. It checks
	// them first (returning a *UsageError) and only then reads the
	// environment, connects or listens. Nil for a command that only has
	// subcommands.
	Run func(ctx context.Context, args []string) error
	// Commands are the subcommands.
	Commands []*Command
}

// Program is a command-line program.
type Program struct {
	// Name is the program's name, e.g. "brazesync".
	Name string
	// Summary is the first paragraph of the program's help.
	Summary string
	// Commands are the program's commands, in the order its help lists
	// them.
	Commands []*Command
	// Footer is the last paragraph of the program's help.
	Footer string
	// ExitStatus, when set, gives the exit status of an error a command
	// returned (ExitFailure for any it does not know).
	ExitStatus func(err error) int
}

// UsageError is a command line that does not fit the command's usage: the
// command's usage follows the message, and the exit status is ExitUsage.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// IsHelp reports whether arg asks for help: -h, -help or --help.
func IsHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// Run runs the command that args name and returns the exit status. Help
// goes to stdout with ExitOK; usage errors and the error a command returns
// go to stderr.
func (p *Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, p.Help())
		return ExitUsage
	}
	if args[0] == "help" || IsHelp(args[0]) {
		return p.help(args[1:], stdout, stderr)
	}
	path, cmd, rest, err := p.find(args)
	switch {
	case err != nil:
		return p.usageError(stderr, path, cmd, err)
	case len(cmd.Commands) > 0 && len(rest) == 0:
		return p.usageError(stderr, path, cmd, Usagef("a command is needed"))
	case len(cmd.Commands) > 0 && rest[0] == "help":
		return p.help(append(strings.Fields(path), rest[1:]...), stdout, stderr)
	case wantsHelp(rest):
		fmt.Fprint(stdout, p.usage(path, cmd))
		return ExitOK
	}
	if err := cmd.Run(ctx, rest); err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			return p.usageError(stderr, path, cmd, err)
		}
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		if p.ExitStatus != nil {
			return p.ExitStatus(err)
		}
		return ExitFailure
	}
	return ExitOK
}

// find walks args down the command tree. It stops at a command that runs,
// or at a command with subcommands when no more arguments name one (none
// left, or a help request). It returns the words of the command it
// reached, that command and the arguments after it.
func (p *Program) find(args []string) (path string, cmd *Command, rest []string, err error) {
	cmd = lookup(p.Commands, args[0])
	if cmd == nil {
		return "", nil, nil, Usagef("unknown command %q", args[0])
	}
	path, rest = cmd.Name, args[1:]
	for len(cmd.Commands) > 0 && len(rest) > 0 && rest[0] != "help" && !IsHelp(rest[0]) {
		sub := lookup(cmd.Commands, rest[0])
		if sub == nil {
			return path, cmd, nil, Usagef("unknown command %q", rest[0])
		}
		path, cmd, rest = path+" "+sub.Name, sub, rest[1:]
	}
	return path, cmd, rest, nil
}

// help answers `help [COMMAND [SUBCOMMAND]]` on stdout.
func (p *Program) help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, p.Help())
		return ExitOK
	}
	path, cmd, _, err := p.find(args)
	if err != nil {
		return p.usageError(stderr, path, cmd, err)
	}
	fmt.Fprint(stdout, p.usage(path, cmd))
	return ExitOK
}

// usageError prints a usage error, then the usage of cmd (the program's
// help when cmd is nil), and returns ExitUsage.
func (p *Program) usageError(w io.Writer, path string, cmd *Command, err error) int {
	prefix := p.Name
	if path != "" {
		prefix += " " + path
	}
	fmt.Fprintf(w, "%s: %v\n\n", prefix, err)
	if cmd == nil {
		fmt.Fprint(w, p.Help())
	} else {
		fmt.Fprint(w, p.usage(path, cmd))
	}
	return ExitUsage
}

// usage is the help of the command at path; a command with subcommands
// lists them.
func (p *Program) usage(path string, cmd *Command) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(cmd.Usage, "\n") + "\n")
	if len(cmd.Commands) > 0 {
		b.WriteString("\nCommands:\n")
		writeList(&b, "", cmd.Commands, false)
		fmt.Fprintf(&b, "\n%s %s COMMAND --help prints a command's usage.\n", p.Name, path)
	}
	return b.String()
}

// Help is the program's help: every command and every subcommand with
// its summary, one line each.
func (p *Program) Help() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUsage:\n  %s COMMAND [ARGS]\n  %s COMMAND --help    print a command's usage (also: %s help COMMAND)\n\nCommands:\n",
		strings.TrimRight(p.Summary, "\n"), p.Name, p.Name, p.Name)
	writeList(&b, "", p.Commands, true)
	if p.Footer != "" {
		b.WriteString("\n" + strings.TrimRight(p.Footer, "\n") + "\n")
	}
	return b.String()
}

// writeList writes one line per command, "NAME  SUMMARY" with the
// summaries aligned; deep also lists the subcommands under their parent.
func writeList(b *strings.Builder, indent string, cmds []*Command, deep bool) {
	width := 0
	var walk func(prefix string, cs []*Command, f func(name string, c *Command))
	walk = func(prefix string, cs []*Command, f func(name string, c *Command)) {
		for _, c := range cs {
			f(prefix+c.Name, c)
			if deep {
				walk("  "+prefix+c.Name+" ", c.Commands, f)
			}
		}
	}
	walk(indent, cmds, func(name string, _ *Command) { width = max(width, len(name)) })
	walk(indent, cmds, func(name string, c *Command) {
		fmt.Fprintf(b, "  %-*s  %s\n", width, name, c.Summary)
	})
}

func lookup(cmds []*Command, name string) *Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// wantsHelp reports whether args ask for help before a "--" that ends the
// options.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if IsHelp(a) {
			return true
		}
	}
	return false
}
