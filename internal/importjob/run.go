package importjob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/pgp"
	"github.com/brazesync/brazesync/internal/sftpclient"
)

// Credentials opens authorizations.
type Credentials interface {
	Credentials(ctx context.Context, account, id string) (*authorizations.Authorization, map[string]string, error)
}

// Options tune a Runner.
type Options struct {
	// TempDir is where files are staged (DATA_DIR/temp).
	TempDir string
	// Egress is how SFTP servers are reached: the egress policy, and the
	// managed server that is exempt from it.
	Egress Egress
	// Logger receives connection events.
	Logger *slog.Logger
}

// Runner imports the new files of Import CSV jobs.
type Runner struct {
	creds    Credentials
	jobs     *jobs.Store
	importer *csvimport.Importer
	limiter  *sftpclient.Limiter
	profiles Upserter
	opts     Options
}

// New returns a Runner.
func New(creds Credentials, js *jobs.Store, importer *csvimport.Importer, limiter *sftpclient.Limiter, up Upserter, opts Options) *Runner {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{creds: creds, jobs: js, importer: importer, limiter: limiter, profiles: up, opts: opts}
}

// PermanentError is a problem no retry fixes (the job fails): the shared
// *fault.PermanentError, whose Code is one of the Code constants.
type PermanentError = fault.PermanentError

// BusyError says the server's connection slots or the job are busy: the
// shared *fault.WaitError, to come back after Delay.
type BusyError = fault.WaitError

// ClientConfig builds the SFTP client config of an authorization.
func ClientConfig(a *authorizations.Authorization, secrets map[string]string) (sftpclient.Config, error) {
	host, _ := authorizations.ConfigString(a.Config, "host")
	port, _ := authorizations.ConfigInt(a.Config, "port", 22, 1, 65535)
	user, _ := authorizations.ConfigString(a.Config, "username")
	hk, _ := authorizations.ConfigString(a.Config, "host_key")
	cfg := sftpclient.Config{Host: host, Port: port, Username: user, Password: secrets["password"], HostKey: hk}
	if k := secrets["private_key"]; k != "" {
		cfg.PrivateKey = []byte(k)
		cfg.Passphrase = []byte(secrets["passphrase"])
	}
	if hk == "" {
		return cfg, &PermanentError{Code: CodeConfig, Err: fmt.Errorf("the server's host key is not pinned: test the authorization with ?pin=true, or set config.host_key")}
	}
	return cfg, nil
}

// fileSettings builds the csvimport config of a job and its authorization.
func (r *Runner) fileSettings(a *authorizations.Authorization, secrets map[string]string, c Config) (csvimport.Config, error) {
	cfg := csvimport.Config{
		Delimiter: c.Delimiter, Headers: c.Headers, Columns: c.Columns, TimestampColumns: c.TimestampColumns,
		TempDir: r.opts.TempDir, Diff: c.Diff, MaxBadRowShare: c.MaxBadRowShare,
	}
	if a.Type == "sftp_pgp" {
		key, err := pgp.ParsePrivateKey([]byte(secrets["pgp_private_key"]), []byte(secrets["pgp_passphrase"]))
		if err != nil {
			return cfg, &PermanentError{Code: CodeConfig, Err: fmt.Errorf("the authorization's PGP key: %w", err)}
		}
		cfg.PGPKey = key
		if signer, _ := authorizations.ConfigString(a.Config, "signer_public_key"); signer != "" {
			pk, err := pgp.ParsePublicKey([]byte(signer))
			if err != nil {
				return cfg, &PermanentError{Code: CodeConfig, Err: fmt.Errorf("the authorization's signer key: %w", err)}
			}
			cfg.PGPSigner = pk
		}
	}
	return cfg, nil
}

// findFiles lists the files of folder that sel picks, in import order. A
// file named exactly is looked up with one stat rather than a listing
// (one round trip instead of four, which counts on a distant server); when
// the stat finds nothing, the listing tells a missing folder from a
// missing file.
func findFiles(ctx context.Context, client *sftpclient.Client, folder string, sel Selector) ([]sftpclient.FileInfo, error) {
	picked := func(f sftpclient.FileInfo) bool {
		base := path.Base(f.Path)
		return !f.IsDir && !strings.HasPrefix(base, ".") && sel.Match(base)
	}
	if name, ok := sel.(exact); ok {
		f, err := client.Stat(ctx, path.Join(folder, string(name)))
		if err == nil {
			if !picked(f) {
				return nil, nil
			}
			return []sftpclient.FileInfo{f}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
	}
	list, err := client.List(ctx, folder)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, &PermanentError{Code: CodeFolder, Err: fmt.Errorf("folder %q: %w; check the job's or the authorization's folder", folder, err)}
	}
	if err != nil {
		return nil, err
	}
	var files []sftpclient.FileInfo
	for _, f := range list {
		if picked(f) {
			files = append(files, f)
		}
	}
	sort.Slice(files, func(i, k int) bool { return sel.Less(path.Base(files[i].Path), path.Base(files[k].Path)) })
	return files, nil
}

// Result of one run.
type Result struct {
	Imported, Failed, Skipped int
	// Failure says why the first failed file failed.
	Failure string
}

// Run imports every new version of the job's files. A bad file is recorded
// (ledger, log) and the run goes on; a connection problem returns an error
// to retry.
func (r *Runner) Run(ctx context.Context, j *jobs.Job, run *jobs.Run) (Result, error) {
	var res Result
	c, err := ParseConfig(j.Config)
	if err != nil {
		return res, &PermanentError{Code: CodeConfig, Err: err}
	}
	a, secrets, err := r.creds.Credentials(ctx, j.Account, j.AuthorizationID)
	if err != nil {
		return res, err
	}
	ccfg, err := ClientConfig(a, secrets)
	if err != nil {
		return res, err
	}
	ccfg.Logger = r.opts.Logger
	ccfg.TempDir = r.opts.TempDir
	ccfg.Dialer = r.opts.Egress.dialer(a, ccfg)
	fcfg, err := r.fileSettings(a, secrets, c)
	if err != nil {
		return res, err
	}
	lease, wait, err := r.limiter.TryAcquire(ctx, j.Account, j.AuthorizationID)
	if err != nil {
		return res, err
	}
	if lease == nil {
		return res, &BusyError{Delay: wait, Reason: "every SFTP connection slot of the authorization is in use"}
	}
	defer lease.Release(context.WithoutCancel(ctx))
	client, err := sftpclient.Dial(ctx, ccfg)
	if err != nil {
		var mm *sftpclient.HostKeyMismatchError
		if errors.As(err, &mm) {
			return res, &PermanentError{Code: CodeHostKeyMismatch, Err: fmt.Errorf("%w; if the server's key changed on purpose, pin the new one (test the authorization with ?pin=true)", err)}
		}
		if errors.Is(err, egress.ErrForbidden) {
			return res, &PermanentError{Code: egress.Code, Err: err}
		}
		return res, &ConnectError{Host: ccfg.Host, Err: err}
	}
	defer client.Close()
	folder := c.Folder
	if folder == "" {
		folder, _ = authorizations.ConfigString(a.Config, "folder")
	}
	if folder == "" {
		folder = "."
	}
	// A file named outright is opened while it is looked up; its download
	// starts only when the import reads it.
	var pre *preOpened
	if name, ok := c.Select.(exact); ok {
		pre = preOpen(ctx, client, path.Join(folder, string(name)))
		defer pre.close()
	}
	files, err := findFiles(ctx, client, folder, c.Select)
	if err != nil {
		return res, err
	}
	job := csvimport.Job{Account: j.Account, ID: j.ID}
	for _, f := range files {
		sink := &profileSink{up: r.profiles, account: j.Account, stream: c.Stream}
		v := csvimport.FileVersion{Path: f.Path, Size: f.Size, ModTime: f.ModTime}
		e, found, err := r.importer.Ledger.Get(ctx, job, v)
		if err != nil {
			return res, err
		}
		if found && e.Finished() {
			res.Skipped++
			continue
		}
		cur, err := r.jobs.Get(ctx, j.Account, j.ID)
		if err != nil {
			return res, err
		}
		if cur.State == jobs.StatePaused || cur.State == jobs.StateDeleted {
			break // paused or deleted meanwhile
		}
		fc := fcfg
		fc.Progress = func(p csvimport.Progress) {
			// Progress is a view of the import, which goes on without it.
			if err := r.jobs.SetProgress(context.WithoutCancel(ctx), j.Account, j.ID, map[string]any{
				"file": p.File, "stage": p.Stage, "bytes_read": p.BytesRead, "bytes_total": p.BytesTotal,
				"rows_read": p.RowsRead, "applied": p.Applied, "rejected": p.Rejected, "unchanged": p.Unchanged,
			}); err != nil {
				r.opts.Logger.WarnContext(ctx, "recording import progress failed", "account", j.Account, "job", j.ID, "file", p.File, "err", err)
			}
		}
		open := func(ctx context.Context) (io.ReadCloser, error) {
			if r := pre.take(f.Path); r != nil {
				return r, nil
			}
			return client.Open(ctx, f.Path)
		}
		rep, err := r.importer.ImportFile(ctx, job, v, open, fc, sink)
		switch {
		case err == nil:
			res.Imported++
			if err := r.count(ctx, j, run, rep, "files_imported"); err != nil {
				return res, err
			}
			if err := r.jobs.Log(ctx, j.Account, j.ID, jobs.Entry{Level: "info", Code: "file_imported", RunID: run.ID,
				Message:  fmt.Sprintf("%s: %d rows read, %d applied, %d unchanged, %d rejected%s", f.Path, rep.RowsRead, rep.Applied, rep.Unchanged, rep.Rejected, rejectionSample(rep)),
				Counters: map[string]int64{"rows_read": rep.RowsRead, "applied": rep.Applied, "rejected": rep.Rejected}}); err != nil {
				return res, err
			}
			if err := r.afterImport(ctx, client, c, f.Path); err != nil {
				if err := r.jobs.Log(ctx, j.Account, j.ID, jobs.Entry{Level: "warn", Code: "after_import_failed", RunID: run.ID, Message: fmt.Sprintf("%s: %v", f.Path, err)}); err != nil {
					return res, err
				}
			}
		case errors.Is(err, csvimport.ErrAlreadyImported):
			res.Skipped++
		case errors.Is(err, csvimport.ErrJobBusy):
			return res, &BusyError{Delay: 5 * time.Second, Reason: "another import of this job is running"}
		case csvimport.IsPermanent(err):
			res.Failed++
			msg := fmt.Sprintf("%s: %v; no row of it was applied%s", f.Path, err, rejectionSample(rep))
			if res.Failure == "" {
				res.Failure = msg
			}
			if err := r.count(ctx, j, run, rep, "files_failed"); err != nil {
				return res, err
			}
			if err := r.jobs.Log(ctx, j.Account, j.ID, jobs.Entry{Level: "error", Code: "file_failed", RunID: run.ID, Message: msg}); err != nil {
				return res, err
			}
		default:
			return res, fmt.Errorf("importing %s: %w", f.Path, err)
		}
	}
	return res, nil
}

// preOpened is a file opened ahead of its import (see sftpclient.Open: no
// download until it is read).
type preOpened struct {
	path string
	done chan struct{}
	r    io.ReadCloser
	err  error
}

func preOpen(ctx context.Context, client *sftpclient.Client, p string) *preOpened {
	po := &preOpened{path: p, done: make(chan struct{})}
	go func() {
		defer close(po.done)
		po.r, po.err = client.Open(ctx, p)
	}()
	return po
}

// take hands over the file if it is the one at p and it opened; the
// caller then owns it. Otherwise it returns nil, and the caller opens p
// itself (and gets the error of its own attempt).
func (po *preOpened) take(p string) io.ReadCloser {
	if po == nil || po.path != p {
		return nil
	}
	<-po.done
	r := po.r
	po.r = nil
	return r
}

// close closes the file unless it was taken.
func (po *preOpened) close() {
	if po == nil {
		return
	}
	<-po.done
	if po.r != nil {
		_ = po.r.Close()
		po.r = nil
	}
}

func (r *Runner) count(ctx context.Context, j *jobs.Job, run *jobs.Run, rep *csvimport.Report, file string) error {
	c := map[string]int64{file: 1}
	if rep != nil {
		c["rows_read"], c["applied"], c["unchanged"], c["rejected"] = rep.RowsRead, rep.Applied, rep.Unchanged, rep.Rejected
	}
	return r.jobs.Count(ctx, j.Account, j.ID, run.ID, c)
}

func rejectionSample(rep *csvimport.Report) string {
	if rep == nil || len(rep.Rejections) == 0 {
		return ""
	}
	var parts []string
	for _, rj := range rep.Rejections[:min(5, len(rep.Rejections))] {
		parts = append(parts, fmt.Sprintf("line %d: %s", rj.Line, rj.Reason))
	}
	return "; rejected rows: " + strings.Join(parts, "; ")
}

func (r *Runner) afterImport(ctx context.Context, client *sftpclient.Client, c Config, p string) error {
	switch c.AfterImport {
	case AfterDelete:
		return client.Remove(ctx, p)
	case AfterMove:
		_ = client.Mkdir(ctx, c.MoveTo)
		return client.Rename(ctx, p, path.Join(c.MoveTo, path.Base(p)))
	}
	return nil
}
