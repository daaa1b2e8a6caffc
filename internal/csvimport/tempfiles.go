package csvimport

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Temporary files (staging files, zip copies) are named
// csvimport-<tag>-<random><suffix> in TempDir, tag naming the job whose
// import made them (jobTempTag), or csvimport-<random><suffix> for a Stage
// outside a job. Only the holder of a job's lease imports it, so the
// holder may remove every other file of the job's tag: they are left by a
// process that died or lost the lease.
const tempPrefix = "csvimport-"

// tempPattern is the os.CreateTemp pattern of a temporary file.
func (c *Config) tempPattern(suffix string) string {
	if c.tempTag == "" {
		return tempPrefix + "*" + suffix
	}
	return tempPrefix + c.tempTag + "-*" + suffix
}

// jobTempTag is the tag of a job's temporary files.
func jobTempTag(job Job) string {
	sum := sha256.Sum256([]byte(job.Account + "\x00" + job.ID))
	return hex.EncodeToString(sum[:6])
}

// isTempName reports whether name is one of csvimport's temporary files.
func isTempName(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && (strings.HasSuffix(name, ".stage") || strings.HasSuffix(name, ".zip"))
}

// CleanTempDir removes staging and zip files that a crashed process left in
// dir (DATA_DIR/temp) and that are older than olderThan. Workers call it at
// start; files of imports running in other processes are younger. The
// holder of a job's lease removes the job's files at once (CleanJobTemp).
func CleanTempDir(dir string, olderThan time.Duration) (removed int, err error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading temp dir %q: %w", dir, err)
	}
	cutoff := time.Now().Add(-olderThan)
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !isTempName(name) {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		switch err := os.Remove(filepath.Join(dir, name)); {
		case err == nil:
			removed++
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// cleanJobTemp removes the temporary files of job's imports from dir, for
// the holder of the job's lease: they belong to a process that died or
// lost the lease while importing.
func cleanJobTemp(dir string, job Job) (removed []string, err error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading temp dir %q: %w", dir, err)
	}
	prefix := tempPrefix + jobTempTag(job) + "-"
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !isTempName(name) {
			continue
		}
		switch err := os.Remove(filepath.Join(dir, name)); {
		case err == nil:
			removed = append(removed, name)
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
