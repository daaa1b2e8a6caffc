package opensshd

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSweepStaleRemovesDeadProcessDirs(t *testing.T) {
	t.Parallel()
	// pid 0 never names a live test process (/proc/0 does not exist).
	dead := filepath.Join(os.TempDir(), "sshdtest-etc-0-"+randomHex(4))
	if err := os.Mkdir(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	live, err := os.MkdirTemp("", tempName("sshdtest-etc"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(live)
	sweepStale()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		_ = os.RemoveAll(dead)
		t.Fatalf("dead process's dir survived: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("own dir swept: %v", err)
	}
}
