package csvimport

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/brazesync/brazesync/internal/pgp"
)

// maxLayers bounds nesting (e.g. PGP → gzip → CSV is 2).
const maxLayers = 4

// ratioGrace is how much a layer may produce before its compression ratio
// is checked: small inputs legitimately compress very well.
const ratioGrace = 16 << 20

// decoder peels encryption and compression off a stream by content and
// hands each CSV stream to the parser.
type decoder struct {
	cfg    *Config
	report *Report
	parser *parser
}

// open detects what r holds and reads it to its end, verifying every
// layer's integrity check.
func (d *decoder) open(ctx context.Context, r io.Reader, entry string, depth int) error {
	if depth > maxLayers {
		return newBadFile(fmt.Errorf("more than %d nested encryption/compression layers", maxLayers))
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(64)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return err
	}
	encrypted := pgp.IsEncryptedMessage(head)
	if depth == 0 && d.cfg.RequireEncryption && !encrypted {
		return newBadFile(ErrNotEncrypted)
	}
	switch {
	case encrypted:
		return d.openPGP(ctx, br, entry, depth)
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return d.openGzip(ctx, br, entry, depth)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return d.openZip(ctx, br, depth)
	default:
		// Decoding (download, decryption, decompression) runs ahead in
		// its own goroutine while this one parses.
		ra := newReadahead(br, 256<<10, 4)
		defer ra.Close()
		if err := d.parser.parse(ctx, ra, entry); err != nil {
			return err
		}
		// The parser stops at the end of the CSV: make sure the stream
		// really ended cleanly (a verifying reader reports here).
		_, err := io.Copy(io.Discard, ra)
		return err
	}
}

func (d *decoder) openPGP(ctx context.Context, r io.Reader, entry string, depth int) error {
	if d.cfg.PGPKey == nil {
		return newBadFile(ErrNeedsKey)
	}
	in := &countingReader{r: r}
	dr, err := pgp.NewDecryptReader(in, pgp.Options{
		Key: d.cfg.PGPKey, RequiredSigner: d.cfg.PGPSigner,
		MaxDecompressedSize: d.cfg.MaxDecompressedSize,
	})
	if err != nil {
		return pgpError(err)
	}
	lr := &limitReader{r: dr, in: &in.n, cfg: d.cfg, what: "PGP message"}
	if err := d.open(ctx, lr, entry, depth+1); err != nil {
		return pgpError(err)
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return pgpError(err)
	}
	if !dr.Verified() {
		return newBadFile(errors.New("PGP message was not verified to its end"))
	}
	d.report.Encrypted = true
	return nil
}

// pgpError marks the pgp errors that are about the file as permanent.
func pgpError(err error) error {
	var wk *pgp.WrongKeyError
	switch {
	case errors.As(err, &wk), errors.Is(err, pgp.ErrIntegrity), errors.Is(err, pgp.ErrSignature),
		errors.Is(err, pgp.ErrNotEncrypted):
		return newBadFile(err)
	case errors.Is(err, pgp.ErrTooLarge):
		return newBadFile(fmt.Errorf("%w: %v", ErrTooLarge, err))
	}
	return err
}

func (d *decoder) openGzip(ctx context.Context, r io.Reader, entry string, depth int) error {
	in := &countingReader{r: r}
	gz, err := gzip.NewReader(in)
	if err != nil {
		return newBadFile(fmt.Errorf("reading gzip header: %w", err))
	}
	lr := &limitReader{r: gz, in: &in.n, cfg: d.cfg, what: "gzip stream"}
	if err := d.open(ctx, lr, strings.TrimSuffix(entry, ".gz"), depth+1); err != nil {
		return gzipError(err)
	}
	// Reading to EOF checks the CRC-32 and length of every member.
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return gzipError(err)
	}
	return nil
}

// corrupt reports whether err says compressed data is damaged.
func corrupt(err error) bool {
	var fe flate.CorruptInputError
	return errors.As(err, &fe) || errors.Is(err, io.ErrUnexpectedEOF)
}

func gzipError(err error) error {
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || corrupt(err) {
		return newBadFile(fmt.Errorf("gzip: %w", err))
	}
	return err
}

// openZip copies the archive to a temporary file (zip needs random access)
// and reads every matching entry.
func (d *decoder) openZip(ctx context.Context, r io.Reader, depth int) error {
	tmp, err := os.CreateTemp(d.cfg.TempDir, "csvimport-*.zip")
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
		if !d.wantEntry(f) {
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

// wantEntry skips directories, metadata, unsafe names and entries that do
// not match the pattern.
func (d *decoder) wantEntry(f *zip.File) bool {
	name := f.Name
	if f.FileInfo().IsDir() || strings.HasSuffix(name, "/") {
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
	if d.cfg.ZipEntryPattern != nil && !d.cfg.ZipEntryPattern.MatchString(path.Base(clean)) {
		return false
	}
	return true
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// limitReader refuses a decompression layer that produces more than
// MaxDecompressedSize bytes or expands more than MaxCompressionRatio times
// its input (*in bytes consumed so far).
type limitReader struct {
	r    io.Reader
	in   *int64
	out  int64
	cfg  *Config
	what string
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.out += int64(n)
	if l.out > l.cfg.MaxDecompressedSize {
		return n, newBadFile(fmt.Errorf("%w: %s over %d bytes", ErrTooLarge, l.what, l.cfg.MaxDecompressedSize))
	}
	if l.out > l.cfg.ratioGrace && *l.in > 0 && float64(l.out)/float64(*l.in) > l.cfg.MaxCompressionRatio {
		return n, newBadFile(fmt.Errorf("%w: %s expands more than %.0f times", ErrTooLarge, l.what, l.cfg.MaxCompressionRatio))
	}
	return n, err
}
