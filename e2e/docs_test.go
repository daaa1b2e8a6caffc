package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The documentation's shell examples are run as written, in order, one
// file at a time against a fresh `brazesync dev`:
//
//   - Every fenced block whose info string is `sh` runs. A block marked
//     `sh norun` does not (it starts brazesync itself, runs the test suite,
//     or needs a real Braze workspace); say why in the text.
//   - Before the first block the runner pastes the `export API=... T=...
//     S=...` line that `brazesync dev` printed, as the README tells a user
//     to. Variables set by one block are seen by the next ones.
//   - Blocks run with bash, `set -euo pipefail`, from the repository's root,
//     with the built brazesync first on PATH.
//   - A line `#=> text` after a command shows what it prints: the command's
//     output must contain text (`...` in text matches anything). Since
//     deliveries and imports are asynchronous, the command right before
//     such lines is run again until its output matches, for up to 60 s.

// docFiles are the documents whose examples run.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../README.md"}
	more, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

// TestDocs runs every document's shell examples.
func TestDocs(t *testing.T) {
	t.Parallel()
	for _, f := range docFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			blocks, err := shellBlocks(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(blocks) == 0 {
				return
			}
			e := Start(t, Dev, Options{})
			sh := newDocShell(t, e)
			for _, b := range blocks {
				sh.run(t, f, b)
			}
		})
	}
}

// block is one fenced shell block of a document.
type block struct {
	line  int // of its first line in the file
	lines []string
}

// shellBlocks returns the blocks of a document that run.
func shellBlocks(path string) ([]block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []block
	var cur *block
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			// Only `sh` blocks run; `sh norun` and other languages do not.
			info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			cur = &block{line: -1}
			if len(info) == 1 && info[0] == "sh" {
				cur.line = n + 1
			}
		case cur != nil && trimmed == "```":
			if cur.line > 0 {
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s: a fenced block is not closed", path)
	}
	return out, sc.Err()
}

// docShell runs a document's blocks, keeping their variables.
type docShell struct {
	dir   string // state between blocks
	state string
	env   []string
	// bashVars are the variables of a bash started with env: the
	// shell's own and the environment's, which the state leaves out.
	bashVars string
}

func newDocShell(t *testing.T, e *Env) *docShell {
	t.Helper()
	dir := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	sh := &docShell{dir: dir, state: filepath.Join(dir, "state.sh")}
	sh.env = baseEnv(map[string]string{"PATH": filepath.Dir(binary) + ":" + os.Getenv("PATH")})
	vars := exec.Command("bash", "--norc", "-c", "compgen -v")
	vars.Env = sh.env
	names, err := vars.Output()
	if err != nil {
		t.Fatalf("listing bash's variables: %v", err)
	}
	sh.bashVars = " " + strings.Join(strings.Fields(string(names)), " ") + " "
	if err := os.WriteFile(sh.state, fmt.Appendf(nil, "cd %q\n", root), 0o600); err != nil {
		t.Fatal(err)
	}
	if e.Exports() == "" {
		t.Fatalf("the dev banner has no export line:\n%s", e.Banner)
	}
	if _, err := sh.exec(e.Exports()); err != nil {
		t.Fatalf("pasting the banner's export line: %v", err)
	}
	return sh
}

// exec runs script after the state of the blocks before it, saves the
// state it leaves, and returns what it printed.
func (sh *docShell) exec(script string) (string, error) {
	// The state is a declare line for each variable the blocks set, with
	// its attributes: a variable a block sets without export stays
	// unexported in the next block, as in a reader's shell, so a document
	// that forgets an export fails here too.
	save := fmt.Sprintf(`for __v in $(compgen -v); do case %q in *" $__v "*) ;; *) [ "$__v" = __v ] || declare -p "$__v";; esac; done`, sh.bashVars)
	full := fmt.Sprintf("source %q\nset -euo pipefail\n%s\nset +u\n{ %s; printf 'cd %%q\\n' \"$PWD\"; } > %q.new && mv %q.new %q\n",
		sh.state, script, save, sh.state, sh.state, sh.state)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", full)
	cmd.Env = sh.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs one block: the parts between expected output lines in turn,
// retrying the command just before each group of expectations.
func (sh *docShell) run(t *testing.T, file string, b block) {
	t.Helper()
	var chunk []string
	start := b.line
	flush := func(expect []string, at int) {
		t.Helper()
		if len(chunk) == 0 {
			return
		}
		if len(expect) == 0 {
			if out, err := sh.exec(strings.Join(chunk, "\n")); err != nil {
				t.Fatalf("%s:%d: the block failed: %v\n%s\n--- output:\n%s", file, start, err, strings.Join(chunk, "\n"), out)
			}
			return
		}
		head, last := lastCommand(chunk)
		if len(head) > 0 {
			if out, err := sh.exec(strings.Join(head, "\n")); err != nil {
				t.Fatalf("%s:%d: the block failed: %v\n%s\n--- output:\n%s", file, start, err, strings.Join(head, "\n"), out)
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			out, err := sh.exec(strings.Join(last, "\n"))
			miss := missing(out, expect)
			if err == nil && miss == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s:%d: %s\nprinted:\n%s\nerror: %v\nwant a line with: %s", file, at, strings.Join(last, "\n"), out, err, miss)
			}
			time.Sleep(250 * time.Millisecond) // the user runs the command again
		}
	}
	var expect []string
	for i, line := range b.lines {
		if want, ok := strings.CutPrefix(strings.TrimSpace(line), "#=>"); ok {
			expect = append(expect, strings.TrimSpace(want))
			continue
		}
		if len(expect) > 0 {
			flush(expect, b.line+i-1)
			chunk, expect, start = nil, nil, b.line+i
		}
		chunk = append(chunk, line)
	}
	flush(expect, b.line+len(b.lines)-1)
}

// lastCommand splits lines into what comes before the last complete shell
// command and that command: the last split where both parts parse and
// the line before does not continue onto the next.
func lastCommand(lines []string) (head, last []string) {
	parses := func(l []string) bool {
		return exec.Command("bash", "-n", "-c", strings.Join(l, "\n")).Run() == nil
	}
	for i := len(lines) - 1; i > 0; i-- {
		cur := strings.TrimSpace(lines[i])
		if cur == "" || strings.HasPrefix(cur, "#") {
			continue
		}
		prev := strings.TrimSpace(lines[i-1])
		if strings.HasSuffix(prev, "\\") || strings.HasSuffix(prev, "|") || strings.HasSuffix(prev, "&&") {
			continue
		}
		if parses(lines[i:]) && parses(lines[:i]) {
			return lines[:i], lines[i:]
		}
	}
	return nil, lines
}

// missing returns the first expected text that out does not contain, or
// "" when it contains them all. "..." in an expected text matches anything.
func missing(out string, expect []string) string {
	for _, want := range expect {
		if !containsPattern(out, want) {
			return want
		}
	}
	return ""
}

func containsPattern(out, pattern string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, part := range strings.Split(pattern, "...") {
			i := strings.Index(rest, part)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(part):]
		}
		if ok {
			return true
		}
	}
	return false
}
