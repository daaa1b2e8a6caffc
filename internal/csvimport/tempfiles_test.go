package csvimport

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCleanTempDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{"csvimport-1.stage", "csvimport-2.zip", "other.stage", "csvimport-new.stage"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if name != "csvimport-new.stage" {
			_ = os.Chtimes(p, old, old)
		}
	}
	n, err := CleanTempDir(dir, time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("removed %d, %v", n, err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 2 {
		t.Fatalf("left %v", left)
	}
	if n, err := CleanTempDir(filepath.Join(dir, "missing"), time.Hour); n != 0 || err != nil {
		t.Fatalf("missing dir: %d %v", n, err)
	}
}
