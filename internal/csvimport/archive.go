package csvimport

import (
	"archive/tar"
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
)

// DefaultEntryPattern picks the members of a zip or tar archive that are
// imported when Config.EntryPattern is nil: CSV, TSV and text files, also
// compressed (gzip, bzip2, zstd). Other members (a manifest, a README) are
// skipped and do not fail the archive.
var DefaultEntryPattern = regexp.MustCompile(`(?i)\.(csv|tsv|txt)(\.(gz|gzip|bz2|zst|zstd))?$`)

// openZip copies the archive to a temporary file (zip needs random access)
// and reads every matching entry.
func (d *decoder) openZip(ctx context.Context, r io.Reader, depth int) error {
	tmp, err := os.CreateTemp(d.cfg.TempDir, d.cfg.tempPattern(".zip"))
	if err != nil {
		return fmt.Errorf("creating temporary zip file: %w", err)
	}
	defer func() { _ = tmp.Close(); _ = os.Remove(tmp.Name()) }()
	n, err := io.Copy(tmp, io.LimitReader(r, d.cfg.MaxDecompressedSize+1))
	if err != nil {
		return err
	}
	if n > d.cfg.MaxDecompressedSize {
		return newBadFile(fmt.Errorf("%w: zip archive over %d bytes", ErrTooLarge, d.cfg.MaxDecompressedSize))
	}
	zr, err := zip.NewReader(tmp, n)
	if err != nil {
		return newBadFile(fmt.Errorf("reading zip archive: %w", err))
	}
	entries := 0
	for _, f := range zr.File {
		name := f.Name
		if !d.wantEntry(name, f.FileInfo().IsDir()) {
			continue
		}
		if f.UncompressedSize64 > uint64(d.cfg.MaxDecompressedSize) {
			return newBadFile(fmt.Errorf("%w: zip entry %s declares %d bytes", ErrTooLarge, name, f.UncompressedSize64))
		}
		if f.UncompressedSize64 > uint64(d.cfg.ratioGrace) && f.CompressedSize64 > 0 &&
			float64(f.UncompressedSize64)/float64(f.CompressedSize64) > d.cfg.MaxCompressionRatio {
			return newBadFile(fmt.Errorf("%w: zip entry %s expands %d times (limit %.0f)", ErrTooLarge, name,
				f.UncompressedSize64/f.CompressedSize64, d.cfg.MaxCompressionRatio))
		}
		rc, err := f.Open()
		if err != nil {
			return newBadFile(fmt.Errorf("opening zip entry %s: %w", name, err))
		}
		in := &countingReader{r: io.LimitReader(rc, int64(f.UncompressedSize64)+1)}
		compressed := int64(f.CompressedSize64)
		lr := &limitReader{r: in, in: &compressed, cfg: d.cfg, what: "zip entry " + name}
		d.report.entry(name)
		entries++
		err = d.open(ctx, lr, name, depth+1)
		if err == nil {
			// Reading to EOF checks the entry's CRC-32 and size.
			_, err = io.Copy(io.Discard, lr)
		}
		_ = rc.Close()
		if err != nil {
			if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || corrupt(err) {
				return newBadFile(fmt.Errorf("zip entry %s: %w", name, err))
			}
			return err
		}
	}
	if entries == 0 {
		d.parser.warn("zip archive has no matching entry: 0 rows")
	}
	return nil
}

// openTar reads the members of a tar archive in order, as they stream:
// each matching regular file is opened as a file of its own. The archive
// is staged as a whole, so that a bad member applies no row of any.
func (d *decoder) openTar(ctx context.Context, r io.Reader, depth int) error {
	src := &sourceReader{r: r}
	tr := tar.NewReader(src)
	entries := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if src.err != nil {
				return err
			}
			return newBadFile(fmt.Errorf("reading tar archive: %w", err))
		}
		if h.Typeflag != tar.TypeReg || !d.wantEntry(h.Name, false) {
			continue
		}
		if h.Size > d.cfg.MaxDecompressedSize {
			return newBadFile(fmt.Errorf("%w: tar member %s declares %d bytes", ErrTooLarge, h.Name, h.Size))
		}
		d.report.entry(h.Name)
		entries++
		if err := d.open(ctx, &verifiedReader{r: tr, src: src, what: "tar member " + h.Name}, h.Name, depth+1); err != nil {
			return err
		}
	}
	if entries == 0 {
		d.parser.warn("tar archive has no matching member: 0 rows")
	}
	return nil
}

// wantEntry skips directories, metadata, unsafe names and entries that do
// not match the entry pattern.
func (d *decoder) wantEntry(name string, isDir bool) bool {
	if isDir || strings.HasSuffix(name, "/") {
		return false
	}
	clean := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(clean, "/") || (len(clean) > 1 && clean[1] == ':') {
		return false
	}
	for _, part := range strings.Split(clean, "/") {
		if part == ".." {
			return false
		}
	}
	if strings.HasPrefix(clean, "__MACOSX/") || strings.HasPrefix(path.Base(clean), "._") {
		return false
	}
	pattern := d.cfg.EntryPattern
	if pattern == nil {
		pattern = DefaultEntryPattern
	}
	return pattern.MatchString(path.Base(clean))
}
