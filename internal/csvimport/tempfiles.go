package csvimport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CleanTempDir removes staging and zip files that a crashed process left in
// dir (DATA_DIR/temp) and that are older than olderThan. Workers call it at
// start; files of imports running in other processes are younger.
func CleanTempDir(dir string, olderThan time.Duration) (removed int, err error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading temp dir %q: %w", dir, err)
	}
	cutoff := time.Now().Add(-olderThan)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "csvimport-") || !(strings.HasSuffix(name, ".stage") || strings.HasSuffix(name, ".zip")) {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err == nil {
			removed++
		}
	}
	return removed, nil
}
