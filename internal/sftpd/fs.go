package sftpd

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
)

// partialPrefix starts the hidden name an upload is written to until the
// client closes the file. Names with this prefix are invisible to clients
// and to imports.
const partialPrefix = ".bs-upload-"

func isPartialName(name string) bool { return strings.HasPrefix(name, partialPrefix) }

var (
	errNotFile  = errors.New("not a regular file")
	errIsDir    = errors.New("is a directory")
	errNotDir   = errors.New("not a directory")
	errShutdown = errors.New("server is shutting down: try again later")
)

// userFS serves one session's SFTP requests inside the user's directory.
// Every path goes through rel and every file operation through os.Root, so
// nothing outside the user's directory can be reached, even through a
// symbolic link placed there by other means.
type userFS struct {
	srv   *Server
	user  User
	root  *os.Root
	quota *quota

	mu      sync.Mutex
	writing map[string]int // paths with an upload in progress
}

func (u *userFS) handlers() sftp.Handlers {
	return sftp.Handlers{FileGet: u, FilePut: u, FileCmd: u, FileList: u}
}

// rel turns a client path into a path relative to the user's root. The
// request server has already made it absolute and clean; rel cleans again
// (never trust one layer), refuses NUL bytes and hides partial uploads.
func rel(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", &os.PathError{Op: "open", Path: p, Err: syscall.EINVAL}
	}
	clean := path.Clean("/" + p)
	if clean == "/" {
		return ".", nil
	}
	r := clean[1:]
	for _, part := range strings.Split(r, "/") {
		if isPartialName(part) {
			return "", &os.PathError{Op: "open", Path: clean, Err: syscall.ENOENT}
		}
	}
	return r, nil
}

// Fileread opens a file for download.
func (u *userFS) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	p, err := rel(r.Filepath)
	if err != nil {
		return nil, err
	}
	f, err := u.root.Open(p)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		_ = f.Close()
		return nil, &os.PathError{Op: "open", Path: r.Filepath, Err: errNotFile}
	}
	return f, nil
}

// Filewrite opens an upload; see upload.go.
func (u *userFS) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	p, err := rel(r.Filepath)
	if err != nil {
		return nil, err
	}
	if p == "." {
		return nil, &os.PathError{Op: "open", Path: r.Filepath, Err: errIsDir}
	}
	return u.startUpload(r, p)
}

// Filecmd runs the commands that change the tree.
func (u *userFS) Filecmd(r *sftp.Request) error {
	switch r.Method {
	case "Symlink", "Link":
		// Symlink requests carry the raw, uncleaned target; links could also
		// dodge quotas. Neither is offered.
		return &os.PathError{Op: strings.ToLower(r.Method), Path: r.Target, Err: syscall.EPERM}
	case "Setstat":
		// Permissions, owners and times are the server's business; accept
		// and ignore so that "put -p" still works. A size change is refused.
		if r.AttrFlags().Size {
			return &os.PathError{Op: "setstat", Path: r.Filepath, Err: syscall.EPERM}
		}
		p, err := rel(r.Filepath)
		if err != nil {
			return err
		}
		if _, err := u.root.Lstat(p); err != nil && !u.isWriting(p) {
			return err
		}
		return nil
	}
	p, err := rel(r.Filepath)
	if err != nil {
		return err
	}
	switch r.Method {
	case "Rename", "PosixRename":
		return u.rename(r, p)
	case "Mkdir":
		if err := u.quota.addFile(); err != nil {
			u.srv.metrics.quotaExceeded.WithLabelValues("files").Inc()
			return err
		}
		err := u.root.Mkdir(p, 0o750)
		u.quota.settle(0, true, err == nil)
		return err
	case "Rmdir":
		info, err := u.root.Lstat(p)
		if err != nil {
			return err
		}
		if !info.IsDir() || p == "." {
			return &os.PathError{Op: "rmdir", Path: r.Filepath, Err: errNotDir}
		}
		if err := u.root.Remove(p); err != nil {
			return err
		}
		u.quota.adjust(0, -1)
		return nil
	case "Remove":
		info, err := u.root.Lstat(p)
		if err != nil {
			return err
		}
		if info.IsDir() {
			return &os.PathError{Op: "remove", Path: r.Filepath, Err: errIsDir}
		}
		if err := u.root.Remove(p); err != nil {
			return err
		}
		var size int64
		if info.Mode().IsRegular() {
			size = info.Size()
		}
		u.quota.adjust(-size, -1)
		return nil
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename is the posix-rename@openssh.com extension: it replaces the
// target. It is what OpenSSH's sftp uses for "rename" when offered.
func (u *userFS) PosixRename(r *sftp.Request) error { return u.Filecmd(r) }

func (u *userFS) rename(r *sftp.Request, from string) error {
	to, err := rel(r.Target)
	if err != nil {
		return err
	}
	if from == "." || to == "." {
		return &os.PathError{Op: "rename", Path: r.Filepath, Err: syscall.EPERM}
	}
	if r.Method == "Rename" {
		// SFTP v3 rename must not replace an existing file.
		if _, err := u.root.Lstat(to); err == nil {
			return &os.LinkError{Op: "rename", Old: r.Filepath, New: r.Target, Err: fs.ErrExist}
		}
	}
	return u.root.Rename(from, to)
}

// Filelist answers List, Stat and Readlink.
func (u *userFS) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	p, err := rel(r.Filepath)
	if err != nil {
		return nil, err
	}
	switch r.Method {
	case "List":
		f, err := u.root.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		entries, err := f.ReadDir(-1)
		if err != nil {
			return nil, err
		}
		infos := make([]os.FileInfo, 0, len(entries))
		for _, e := range entries {
			if isPartialName(e.Name()) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed since ReadDir
			}
			infos = append(infos, info)
		}
		return listerAt(infos), nil
	case "Stat":
		info, err := u.root.Stat(p)
		if err != nil {
			return nil, err
		}
		return listerAt{info}, nil
	case "Readlink":
		return nil, &os.PathError{Op: "readlink", Path: r.Filepath, Err: syscall.EINVAL}
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

// Lstat answers lstat without following a final symbolic link.
func (u *userFS) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	p, err := rel(r.Filepath)
	if err != nil {
		return nil, err
	}
	info, err := u.root.Lstat(p)
	if err != nil {
		return nil, err
	}
	return listerAt{info}, nil
}

// listerAt serves a fixed slice of file infos.
type listerAt []os.FileInfo

func (l listerAt) ListAt(dst []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

var (
	_ sftp.PosixRenameFileCmder = (*userFS)(nil)
	_ sftp.LstatFileLister      = (*userFS)(nil)
)
