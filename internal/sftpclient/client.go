package sftpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// FileInfo describes one entry of a folder. Path, Size and ModTime together
// identify a file version for the import ledger.
type FileInfo struct {
	Name    string
	Path    string // folder + "/" + Name
	Size    int64
	ModTime time.Time
	IsDir   bool
}

// do runs fn, closing the client if ctx ends first, and explains failures
// caused by the connection closing.
func (c *Client) do(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r := c.reason.Load(); r != nil {
		return *r
	}
	stop := context.AfterFunc(ctx, func() {
		c.shutdown(fmt.Errorf("sftp: call abandoned: %w", context.Cause(ctx)))
	})
	err := fn()
	stop()
	if err != nil {
		if r := c.reason.Load(); r != nil {
			return fmt.Errorf("%w (%v)", *r, err)
		}
	}
	return err
}

// List returns the entries of folder sorted by name. A missing folder
// gives an error wrapping fs.ErrNotExist; no access, fs.ErrPermission.
func (c *Client) List(ctx context.Context, folder string) ([]FileInfo, error) {
	var out []FileInfo
	err := c.do(ctx, func() error {
		entries, err := c.sftp.ReadDirContext(ctx, folder)
		if err != nil {
			return err
		}
		out = make([]FileInfo, 0, len(entries))
		for _, e := range entries {
			out = append(out, FileInfo{
				Name: e.Name(), Path: path.Join(folder, e.Name()),
				Size: e.Size(), ModTime: e.ModTime(), IsDir: e.IsDir(),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing folder %q: %w", folder, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Stat describes one file.
func (c *Client) Stat(ctx context.Context, p string) (FileInfo, error) {
	var fi FileInfo
	err := c.do(ctx, func() error {
		st, err := c.sftp.Stat(p)
		if err != nil {
			return err
		}
		fi = FileInfo{Name: st.Name(), Path: p, Size: st.Size(), ModTime: st.ModTime(), IsDir: st.IsDir()}
		return nil
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("stat %q: %w", p, err)
	}
	return fi, nil
}

// Download copies the file at p into w with pkg/sftp's concurrent read
// path (File.WriteTo, up to 64 requests in flight). w must not be wrapped
// around the file: the file is the source, so WriteTo is always used.
func (c *Client) Download(ctx context.Context, p string, w io.Writer) (int64, error) {
	var n int64
	err := c.do(ctx, func() error {
		f, err := c.sftp.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err = f.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("downloading %q: %w", p, err)
	}
	return n, nil
}

// Open opens the file at p and returns it as an io.ReadCloser. The first
// Read starts the download: concurrent requests (see download) into a
// spool file in Config.TempDir, which the reader reads as it fills (see
// spool), so that a consumer reading in small pieces (a decrypter, a CSV
// parser) gets the concurrent download and does not slow it down. Until
// then only the handle is open: a caller may open a file while it decides
// whether to read it. The reader returns the download's error, if any,
// instead of io.EOF. Close it to stop early; it removes the spool file.
func (c *Client) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var f *sftp.File
	err := c.do(ctx, func() error {
		var err error
		f, err = c.sftp.Open(p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", p, err)
	}
	sp, err := newSpool(c.cfg.TempDir)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	r := &spoolReader{spool: sp, f: f, done: make(chan struct{})}
	r.download = func() {
		defer close(r.done)
		err := c.do(ctx, func() error { return download(f, sp) })
		if err != nil {
			err = fmt.Errorf("downloading %q: %w", p, err)
		}
		// The reader has the whole file now, not a round trip later, once
		// the server closed the handle.
		sp.finish(err)
		_ = f.Close()
	}
	return r, nil
}

// spoolReader reads a download's spool.
type spoolReader struct {
	*spool
	f        *sftp.File
	download func() // closes done
	started  sync.Once
	done     chan struct{}
	once     sync.Once
}

// Read starts the download the first time, then reads the spool.
func (r *spoolReader) Read(p []byte) (int, error) {
	r.started.Do(func() { go r.download() })
	return r.spool.Read(p)
}

// Close stops the download, waits for its goroutine and removes the spool
// file; without a download, it closes the handle.
func (r *spoolReader) Close() error {
	r.once.Do(func() {
		r.started.Do(func() {
			_ = r.f.Close()
			close(r.done)
		})
		r.spool.close()
		<-r.done
		r.spool.release()
	})
	return nil
}

// Rename moves oldPath to newPath, replacing newPath where the server
// supports posix-rename@openssh.com.
func (c *Client) Rename(ctx context.Context, oldPath, newPath string) error {
	err := c.do(ctx, func() error {
		if _, ok := c.sftp.HasExtension("posix-rename@openssh.com"); ok {
			return c.sftp.PosixRename(oldPath, newPath)
		}
		return c.sftp.Rename(oldPath, newPath)
	})
	if err != nil {
		return fmt.Errorf("renaming %q to %q: %w", oldPath, newPath, err)
	}
	return nil
}

// Remove deletes a file or an empty folder.
func (c *Client) Remove(ctx context.Context, p string) error {
	if err := c.do(ctx, func() error { return c.sftp.Remove(p) }); err != nil {
		return fmt.Errorf("removing %q: %w", p, err)
	}
	return nil
}

// Mkdir creates folder p and any missing parents; an existing folder is
// not an error.
func (c *Client) Mkdir(ctx context.Context, p string) error {
	err := c.do(ctx, func() error {
		err := c.sftp.MkdirAll(p)
		if err != nil {
			if st, serr := c.sftp.Stat(p); serr == nil && st.IsDir() {
				return nil
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("creating folder %q: %w", p, err)
	}
	return nil
}

// Upload writes r to p (O_WRONLY|O_CREATE|O_TRUNC, which servers that refuse
// O_RDWR accept), for after-import actions and tests.
func (c *Client) Upload(ctx context.Context, p string, r io.Reader) (int64, error) {
	var n int64
	err := c.do(ctx, func() error {
		f, err := c.sftp.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return err
		}
		n, err = f.ReadFrom(r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return n, fmt.Errorf("uploading %q: %w", p, err)
	}
	return n, nil
}

// Chunks of a download: each ReadAt of downloadChunk bytes asks for its
// 32 KiB packets at once, and downloadAhead chunks are asked for ahead of
// the one being written.
const (
	downloadChunk = 1 << 20
	downloadAhead = 3
)

// download copies f to w from the start to its end, with the requests of
// downloadAhead chunks in flight, and writes the chunks in order. Unlike
// File.WriteTo it does not stat the file first, a round trip before the
// first byte.
func download(f *sftp.File, w io.Writer) error {
	type chunk struct {
		buf  []byte
		n    int
		err  error
		done chan struct{}
	}
	var pending []*chunk
	var free [][]byte
	// Whatever happens, the reads in flight end before their buffers go.
	defer func() {
		for _, ch := range pending {
			<-ch.done
		}
	}()
	var off int64
	ask := func() {
		var buf []byte
		if n := len(free); n > 0 {
			buf, free = free[n-1], free[:n-1]
		} else {
			buf = make([]byte, downloadChunk)
		}
		ch := &chunk{buf: buf, done: make(chan struct{})}
		go func(at int64) {
			defer close(ch.done)
			ch.n, ch.err = f.ReadAt(ch.buf, at)
		}(off)
		off += downloadChunk
		pending = append(pending, ch)
	}
	for {
		for len(pending) < downloadAhead+1 {
			ask()
		}
		ch := pending[0]
		<-ch.done
		pending = pending[1:]
		if ch.n > 0 {
			if _, err := w.Write(ch.buf[:ch.n]); err != nil {
				return err
			}
		}
		switch {
		case errors.Is(ch.err, io.EOF):
			return nil
		case ch.err != nil:
			return ch.err
		case ch.n < len(ch.buf):
			return io.ErrNoProgress // ReadAt broke its contract
		}
		free = append(free, ch.buf)
	}
}
