// Package e2e is brazesync's acceptance suite. It builds the brazesync
// binary once and drives it only through what its users touch: the HTTP
// API, the collect endpoint, OpenSSH's sftp client, the Braze simulator's
// /_sim endpoints and process signals. Every scenario runs twice: on
// `brazesync dev` with its embedded Redis, and on separate api, worker,
// scheduler, sftpd and braze-sim processes on a real Redis (REDIS_URL, by
// default redis://127.0.0.1:6379/0, of which each environment leases a
// database).
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "brazesync-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "brazesync")
	build := exec.Command("go", "build", "-o", binary, "../cmd/brazesync")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building brazesync:", err)
		return 1
	}
	defer stopShared()
	return m.Run()
}
