package importjob

import (
	"errors"
	"fmt"

	"github.com/brazesync/brazesync/internal/sftpclient"
)

// Codes of the problems of import runs: a job's last_error.code and the
// code of its log entries about them.
const (
	// CodeUnreachable: the SFTP server did not answer or refused the
	// connection (retried).
	CodeUnreachable = "sftp_unreachable"
	// CodeAuthFailed: the server refused the login (retried: the
	// credentials may be being changed).
	CodeAuthFailed = "sftp_auth_failed"
	// CodePrivateKey: the authorization's private key cannot be used.
	CodePrivateKey = "sftp_private_key"
	// CodeHostKeyMismatch: the server presented another host key than the
	// pinned one (the job fails).
	CodeHostKeyMismatch = "sftp_host_key_mismatch"
	// CodeFolder: the folder cannot be read (the job fails). A folder that
	// does not exist yet is not a failure: a warning with this code goes
	// to the job's log and the job waits for the folder.
	CodeFolder = "sftp_folder_missing"
	// CodeConfig: the job's or the authorization's settings cannot work
	// (the job fails).
	CodeConfig = "import_config"
	// CodeFileFailed: a file was refused (bad CSV, bad encryption, too many
	// bad rows); no row of it was applied. It stays reported until a file
	// imports.
	CodeFileFailed = "import_file_failed"
)

// ConnectError is a failed connection to the SFTP server; the run is
// retried.
type ConnectError struct {
	Host string
	Err  error
}

func (e *ConnectError) Error() string {
	var hint string
	switch e.ProblemCode() {
	case CodeAuthFailed:
		hint = "check the authorization's username, password or private key"
	case CodePrivateKey:
		hint = "check the authorization's private key and passphrase"
	default:
		hint = "check the authorization's host and port and that the server accepts connections from brazesync"
	}
	return fmt.Sprintf("connecting to %s: %v; %s", e.Host, e.Err, hint)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// ProblemCode returns CodeAuthFailed, CodePrivateKey or CodeUnreachable.
func (e *ConnectError) ProblemCode() string {
	switch {
	case errors.Is(e.Err, sftpclient.ErrAuth):
		return CodeAuthFailed
	case errors.Is(e.Err, sftpclient.ErrPrivateKey):
		return CodePrivateKey
	}
	return CodeUnreachable
}
