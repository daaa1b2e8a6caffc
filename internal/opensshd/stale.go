package opensshd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Processes that crash (a panic, a test binary's -timeout) skip Close and
// leave test users, directories and gpg agents behind. Every name the
// package creates carries the creating process id; sweepStale removes what
// belongs to processes that no longer exist. sshd itself dies with its
// parent process (Pdeathsig).

var (
	staleDir  = regexp.MustCompile(`^(?:sshdtest-(?:home|etc)|gpg)-(\d+)-`)
	staleUser = regexp.MustCompile(`^bst[0-9a-f]{12}$`)
)

func tempName(kind string) string { return kind + "-" + strconv.Itoa(os.Getpid()) + "-" }

func deadOwner(name string) bool {
	m := staleDir.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	if m[1] == strconv.Itoa(os.Getpid()) {
		return false
	}
	_, err := os.Stat("/proc/" + m[1])
	return os.IsNotExist(err)
}

// sweepStale removes leftovers of dead test processes. Errors are ignored:
// it is housekeeping.
func sweepStale() {
	tmp := os.TempDir()
	if os.Geteuid() == 0 {
		if f, err := os.Open("/etc/passwd"); err == nil {
			sc := bufio.NewScanner(f)
			var stale []string
			for sc.Scan() {
				fields := strings.Split(sc.Text(), ":")
				if len(fields) < 6 || !staleUser.MatchString(fields[0]) {
					continue
				}
				if filepath.Dir(fields[5]) == filepath.Clean(tmp) && deadOwner(filepath.Base(fields[5])) {
					stale = append(stale, fields[0])
				}
			}
			_ = f.Close()
			for _, u := range stale {
				_ = exec.Command("userdel", "-f", u).Run()
			}
		}
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !deadOwner(e.Name()) {
			continue
		}
		p := filepath.Join(tmp, e.Name())
		if strings.HasPrefix(e.Name(), "gpg-") {
			cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
			cmd.Env = append(os.Environ(), "GNUPGHOME="+p)
			_ = cmd.Run()
		}
		_ = os.RemoveAll(p)
	}
}
