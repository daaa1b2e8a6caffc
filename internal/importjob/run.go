package importjob

import (
	"context"
	"errors"
	"fmt"
	"github.com/brazesync/brazesync/tasks"
	"io"
	"log/slog"
	"path"
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
	// Rejected keeps each run's rejected rows; nil keeps none.
	Rejected *RejectedStore
	// Watcher arranges the look at an import that finds out when its
	// worker died (see Check); nil leaves that to Asynq's recovery of the
	// run's task, minutes later. With an Enqueuer and no Watcher, it is a
	// TaskWatcher.
	Watcher Watcher
	// Enqueuer enqueues the watch tasks and the recovered runs of imports
	// whose worker died.
	Enqueuer tasks.Enqueuer
	// FolderPoll is how often a job without schedule on a customer's
	// server looks for a folder that does not exist yet. Default
	// FolderPollDefault.
	FolderPoll time.Duration
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
	if opts.FolderPoll <= 0 {
		opts.FolderPoll = FolderPollDefault
	}
	if opts.Watcher == nil && opts.Enqueuer != nil {
		opts.Watcher = TaskWatcher{Client: opts.Enqueuer}
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

// Result of one run.
type Result struct {
	Imported, Failed, Skipped int
	// Failure says why the first failed file failed.
	Failure string
	// Finished: the run had ended already (another worker took its import
	// over and finished it); nothing was done.
	Finished bool
	// FolderMissing names the job's folder when it does not exist yet.
	FolderMissing string
}

// Run imports every new version of the job's files, holding the job's
// lease (another run of the job waits: a *BusyError). A bad file is
// recorded (ledger, log, rejected rows, moved with on_failure move) and
// the run goes on; a connection problem returns an error to retry. When
// the lease's previous holder died importing, this run takes its import
// over. A folder that does not exist yet is not an error: the run logs a
// warning and ends, or, for a job without schedule on a customer's server,
// waits (a *BusyError) and looks again.
func (r *Runner) Run(ctx context.Context, j *jobs.Job, run *jobs.Run) (Result, error) {
	var res Result
	if run.EndedAt != nil {
		res.Finished = true
		return res, nil
	}
	c, err := ParseConfig(j.Config)
	if err != nil {
		return res, &PermanentError{Code: CodeConfig, Err: err}
	}
	job := csvimport.Job{Account: j.Account, ID: j.ID}
	lease, err := r.importer.Acquire(ctx, job, run.ID)
	if errors.Is(err, csvimport.ErrJobBusy) {
		return res, &BusyError{Delay: r.WatchInterval(), Reason: "another import of this job is running"}
	}
	if err != nil {
		return res, err
	}
	defer lease.Release()
	ctx = lease.Context()
	defer func() {
		// A job between runs shows no progress: the import is over,
		// whatever its outcome. Progress is a view of the import, which
		// went on without it.
		if err := r.jobs.ClearProgress(context.WithoutCancel(ctx), j.Account, j.ID); err != nil {
			r.opts.Logger.WarnContext(ctx, "clearing import progress failed", "account", j.Account, "job", j.ID, "err", err)
		}
	}()
	lease.CleanTemp(r.opts.TempDir)
	// While this run waited for the lease, another worker may have taken
	// its import over and finished it.
	if cur, err := r.jobs.GetRun(ctx, j.Account, j.ID, run.ID); err != nil {
		return res, err
	} else if cur.EndedAt != nil {
		res.Finished = true
		return res, nil
	}
	if err := r.takeOver(ctx, j, run, lease); err != nil {
		return res, err
	}
	res, err = r.importFiles(ctx, j, run, c, lease)
	if err != nil {
		return res, err
	}
	if prev := lease.Previous(); prev != nil && prev.Run == run.ID {
		// This run started on a worker that died: its result is what the
		// ledger says of all its files.
		return r.runResult(ctx, job, run.ID, res)
	}
	return res, nil
}

// importFiles connects and imports the job's new files under lease.
func (r *Runner) importFiles(ctx context.Context, j *jobs.Job, run *jobs.Run, c Config, lease *csvimport.Lease) (Result, error) {
	var res Result
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
	if fcfg.IdentityColumns, err = r.identityColumns(ctx, j.Account, c.Stream); err != nil {
		return res, err
	}
	folder := c.Folder
	if folder == "" {
		folder, _ = authorizations.ConfigString(a.Config, "folder")
	}
	if folder == "" {
		folder = "."
	}
	for _, f := range []struct{ key, v string }{{"errors_folder", c.ErrorsFolder}, {"failed_folder", c.FailedFolder}, {"move_to", c.MoveTo}} {
		if f.v != "" && SameFolder(f.v, folder) {
			return res, &PermanentError{Code: CodeConfig, Err: fmt.Errorf("config.%s %q is the folder the job imports from; choose another", f.key, f.v)}
		}
	}
	sftpLease, wait, err := r.limiter.TryAcquire(ctx, j.Account, j.AuthorizationID)
	if err != nil {
		return res, err
	}
	if sftpLease == nil {
		return res, &BusyError{Delay: wait, Reason: "every SFTP connection slot of the authorization is in use"}
	}
	defer sftpLease.Release(context.WithoutCancel(ctx))
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
	// A file named outright is opened while it is looked up; its download
	// starts only when the import reads it.
	var pre *preOpened
	if name, ok := exactName(c.Select); ok && c.Select.Match(name) {
		pre = preOpen(ctx, client, path.Join(folder, name))
		defer pre.close()
	}
	// The listing sees every upload so far; an upload after this asks
	// for a run of its own.
	if err := r.jobs.TakeUploads(ctx, j.Account, j.ID); err != nil {
		return res, err
	}
	files, err := findFiles(ctx, client, folder, c.Select)
	var missing *folderMissingError
	if errors.As(err, &missing) {
		return r.folderMissing(ctx, j, run, a.Type, missing)
	}
	if err != nil {
		return res, err
	}
	job := lease.Job()
	watch := &watchOnce{r: r, w: Watch{Account: j.Account, JobID: j.ID, RunID: run.ID, Token: lease.Token()}}
	seen := int64(0) // files that earlier runs imported or failed
	for _, f := range files {
		sink := &profileSink{up: r.profiles, account: j.Account, stream: c.Stream}
		v := csvimport.FileVersion{Path: f.Path, Size: f.Size, ModTime: f.ModTime}
		e, found, err := r.importer.Ledger.Get(ctx, job, v)
		if err != nil {
			return res, err
		}
		if found && e.Finished() {
			res.Skipped++
			if e.RunID != run.ID {
				seen++
			}
			continue
		}
		cur, err := r.jobs.Get(ctx, j.Account, j.ID)
		if err != nil {
			return res, err
		}
		if cur.State == jobs.StatePaused || cur.State == jobs.StateDeleted {
			break // paused or deleted meanwhile
		}
		fr := &fileRun{j: j, run: run, c: c, client: client, f: f, v: v, job: job}
		fc := fcfg
		if err := r.rejectedBudget(ctx, fr, &fc); err != nil {
			return res, err
		}
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
		watch.ask(ctx)
		rep, err := lease.ImportFile(ctx, v, open, fc, sink)
		switch {
		case err == nil:
			res.Imported++
			if err := r.imported(ctx, fr, rep); err != nil {
				return res, err
			}
		case errors.Is(err, csvimport.ErrAlreadyImported):
			res.Skipped++
		case csvimport.IsPermanent(err):
			res.Failed++
			msg, err := r.failed(ctx, fr, rep, err)
			if err != nil {
				return res, err
			}
			if res.Failure == "" {
				res.Failure = msg
			}
		default:
			return res, fmt.Errorf("importing %s: %w", f.Path, err)
		}
	}
	// A run that found nothing new says what it found (counted once: a
	// retried run lists again).
	if _, err := r.jobs.CountOnce(ctx, j.Account, j.ID, run.ID, "files_skipped", map[string]int64{"files_skipped": seen}); err != nil {
		return res, err
	}
	return res, nil
}

// folderMissing handles a job folder that does not exist yet: a warning
// in the job's log (once a run), then the run ends, except for a job
// without schedule on a customer's server, which waits and looks again.
// An upload into the folder starts an sftp_managed job; a scheduled job
// looks at its next run.
func (r *Runner) folderMissing(ctx context.Context, j *jobs.Job, run *jobs.Run, authType string, missing *folderMissingError) (Result, error) {
	res := Result{FolderMissing: missing.folder}
	poll := j.Schedule == "" && authType != "sftp_managed"
	how := "the next scheduled run looks again"
	switch {
	case authType == "sftp_managed":
		how = "an upload into it starts the import"
	case poll:
		how = fmt.Sprintf("the job looks again every %s", r.opts.FolderPoll)
	}
	first, err := r.jobs.CountOnce(ctx, j.Account, j.ID, run.ID, "folder_missing", map[string]int64{"folder_missing": 1})
	if err != nil {
		return res, err
	}
	if first {
		if err := r.jobs.Log(ctx, j.Account, j.ID, jobs.Entry{Level: "warn", Code: CodeFolder, RunID: run.ID,
			Message: fmt.Sprintf("folder %q does not exist yet; the job waits for it: %s", missing.folder, how)}); err != nil {
			return res, err
		}
	}
	if poll {
		return res, &BusyError{Delay: r.opts.FolderPoll, Reason: fmt.Sprintf("waiting for folder %q to exist", missing.folder)}
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
