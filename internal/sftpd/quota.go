package sftpd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// ErrQuotaExceeded is the error a client sees (as an SFTP failure with this
// message) when a write would take a user over its byte or file quota.
var ErrQuotaExceeded = errors.New("quota exceeded")

// quotaError says which quota a write would exceed.
type quotaError struct {
	kind      string // "bytes" or "files"
	used, max int64
}

func (e *quotaError) Error() string {
	return fmt.Sprintf("quota exceeded: %s limit is %d, %d in use", e.kind, e.max, e.used)
}

func (e *quotaError) Unwrap() error { return ErrQuotaExceeded }

// rescanInterval is how stale the on-disk usage may get before a new upload
// walks the user's directory again. In between, the usage is kept up to date
// by this process's own changes.
const rescanInterval = time.Second

// staleUploadAge is how old a hidden partial upload must be (by
// modification time) before a scan removes it as the leftover of a crash.
const staleUploadAge = 24 * time.Hour

// quota tracks one user's usage in this process: what the last scan found
// on disk plus the uploads in progress. Sessions of the same user share one
// quota.
type quota struct {
	maxBytes, maxFiles int64

	mu            sync.Mutex
	refs          int
	scanned       time.Time
	diskBytes     int64 // regular files' bytes, partial uploads excluded
	diskFiles     int64 // files and directories, partial uploads excluded
	inflightBytes int64 // net growth of uploads in progress (negative while replacing)
	inflightFiles int64 // uploads in progress that create a new file
}

// refresh walks root again if the last scan is older than rescanInterval.
// It removes partial uploads older than staleUploadAge on the way.
func (q *quota) refresh(root *os.Root, now time.Time) error {
	q.mu.Lock()
	fresh := now.Sub(q.scanned) < rescanInterval
	q.mu.Unlock()
	if fresh {
		return nil
	}
	var bytes, files int64
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if p == "." {
			return nil
		}
		if isPartialName(d.Name()) {
			if info, err := d.Info(); err == nil && now.Sub(info.ModTime()) > staleUploadAge {
				_ = root.Remove(p)
			}
			return nil
		}
		files++
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				bytes += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("measuring disk usage: %w", err)
	}
	q.mu.Lock()
	q.diskBytes, q.diskFiles, q.scanned = bytes, files, now
	q.mu.Unlock()
	return nil
}

// addFile reserves one more file or directory, or returns a *quotaError.
func (q *quota) addFile() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	used := q.diskFiles + q.inflightFiles
	if used+1 > q.maxFiles {
		return &quotaError{kind: "files", used: used, max: q.maxFiles}
	}
	q.inflightFiles++
	return nil
}

// grow reserves delta more bytes (delta may be negative), or returns a
// *quotaError and reserves nothing.
func (q *quota) grow(delta int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	used := q.diskBytes + q.inflightBytes
	if delta > 0 && used+delta > q.maxBytes {
		return &quotaError{kind: "bytes", used: used, max: q.maxBytes}
	}
	q.inflightBytes += delta
	return nil
}

// settle ends an upload that reserved bytes and (if newFile) one file. If
// kept, the reservation becomes disk usage; otherwise it is released.
func (q *quota) settle(bytes int64, newFile, kept bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflightBytes -= bytes
	if newFile {
		q.inflightFiles--
	}
	if kept {
		q.diskBytes += bytes
		if newFile {
			q.diskFiles++
		}
	}
}

// adjust records a change on disk made outside uploads (mkdir, remove).
func (q *quota) adjust(bytes, files int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.diskBytes += bytes
	q.diskFiles += files
}

// quotas hands out one *quota per user, shared by the user's sessions.
type quotas struct {
	maxBytes, maxFiles int64

	mu sync.Mutex
	m  map[string]*quota
}

func (qs *quotas) acquire(acct, username string) *quota {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	k := acct + "/" + username
	q := qs.m[k]
	if q == nil {
		q = &quota{maxBytes: qs.maxBytes, maxFiles: qs.maxFiles}
		qs.m[k] = q
	}
	q.refs++
	return q
}

func (qs *quotas) release(acct, username string) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	k := acct + "/" + username
	if q := qs.m[k]; q != nil {
		q.refs--
		if q.refs == 0 {
			delete(qs.m, k)
		}
	}
}
