package importjob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/sftpclient"
)

// FolderPollDefault is how often a job without a schedule on a customer's
// server looks again for a folder that does not exist yet.
const FolderPollDefault = time.Minute

// folderMissingError: the job's folder does not exist (yet). The job
// waits for it: an upload into it (managed server), the next scheduled run
// or a poll every FolderPollDefault (customer server, no schedule) look
// again.
type folderMissingError struct {
	folder string
	err    error
}

func (e *folderMissingError) Error() string {
	return fmt.Sprintf("folder %q does not exist yet: %v", e.folder, e.err)
}

func (e *folderMissingError) Unwrap() error { return e.err }

// findFiles lists the files of folder that sel picks, in import order. A
// file named exactly is looked up with one stat rather than a listing
// (one round trip instead of four, which counts on a distant server); when
// the stat finds nothing, the listing tells a missing folder from a
// missing file. A folder that does not exist is a *folderMissingError; one
// that cannot be read, a PermanentError.
func findFiles(ctx context.Context, client *sftpclient.Client, folder string, sel Selector) ([]sftpclient.FileInfo, error) {
	picked := func(f sftpclient.FileInfo) bool {
		base := path.Base(f.Path)
		return !f.IsDir && !strings.HasPrefix(base, ".") && sel.Match(base)
	}
	if name, ok := exactName(sel); ok {
		f, err := client.Stat(ctx, path.Join(folder, name))
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
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &folderMissingError{folder: folder, err: err}
	}
	if errors.Is(err, fs.ErrPermission) {
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
