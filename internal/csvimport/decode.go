package csvimport

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/brazesync/brazesync/internal/pgp"
	"github.com/klauspost/compress/zstd"
)

// maxLayers bounds nesting (e.g. PGP → gzip → tar → CSV is 3).
const maxLayers = 4

// ratioGrace is how much a layer may produce before its compression ratio
// is checked: small inputs legitimately compress very well.
const ratioGrace = 16 << 20

// sniffSize is how much of a stream is looked at to tell what it holds (a
// tar header's magic is at offset 257).
const sniffSize = 512

// decoder peels encryption, compression and archives off a stream by
// content and hands each CSV stream to the parser.
type decoder struct {
	cfg    *Config
	report *Report
	parser *parser
}

// Magic numbers of the formats recognised by content.
var (
	gzipMagic   = []byte{0x1f, 0x8b}
	zstdMagic   = []byte{0x28, 0xb5, 0x2f, 0xfd}
	bzip2Block  = []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59} // first block (pi)
	bzip2End    = []byte{0x17, 0x72, 0x45, 0x38, 0x50, 0x90} // end of an empty stream (sqrt pi)
	zipMagic    = []byte("PK\x03\x04")
	zipEmpty    = []byte("PK\x05\x06")
	tarMagic    = []byte("ustar")
	tarMagicOff = 257
)

// isBzip2 reports whether head starts a bzip2 stream: "BZh", the block
// size digit, then a block or end-of-stream magic.
func isBzip2(head []byte) bool {
	if len(head) < 10 || !bytes.HasPrefix(head, []byte("BZh")) || head[3] < '1' || head[3] > '9' {
		return false
	}
	return bytes.Equal(head[4:10], bzip2Block) || bytes.Equal(head[4:10], bzip2End)
}

// isTar reports whether head is a POSIX (ustar, pax) or GNU tar header.
func isTar(head []byte) bool {
	return len(head) >= tarMagicOff+len(tarMagic) && bytes.Equal(head[tarMagicOff:tarMagicOff+len(tarMagic)], tarMagic)
}

// open detects what r holds and reads it to its end, verifying every
// layer's integrity check.
func (d *decoder) open(ctx context.Context, r io.Reader, entry string, depth int) error {
	if depth > maxLayers {
		return newBadFile(fmt.Errorf("more than %d nested encryption/compression/archive layers", maxLayers))
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(sniffSize)
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
	case bytes.HasPrefix(head, gzipMagic):
		return d.openStream(ctx, br, entry, depth, gzipLayer)
	case isBzip2(head):
		return d.openStream(ctx, br, entry, depth, bzip2Layer)
	case bytes.HasPrefix(head, zstdMagic):
		return d.openStream(ctx, br, entry, depth, zstdLayer(d.cfg))
	case bytes.HasPrefix(head, zipMagic), bytes.HasPrefix(head, zipEmpty):
		return d.openZip(ctx, br, depth)
	case isTar(head):
		return d.openTar(ctx, br, depth)
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}), bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return newBadFile(fmt.Errorf("%sthe file is UTF-16 text: save it as UTF-8 (or Windows-1252)", entryPrefix(entry)))
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

// layer is a compression format read as a stream.
type layer struct {
	name     string
	suffixes []string // trimmed off the entry name
	// open starts decompressing r; close, when not nil, frees the decoder.
	open func(r io.Reader) (rd io.Reader, close func(), err error)
	// tooLarge, when set, tells the decoder's own size limits.
	tooLarge func(error) bool
}

var gzipLayer = layer{name: "gzip", suffixes: []string{".gz", ".gzip"}, open: func(r io.Reader) (io.Reader, func(), error) {
	gz, err := gzip.NewReader(r)
	return gz, nil, err
}}

var bzip2Layer = layer{name: "bzip2", suffixes: []string{".bz2"}, open: func(r io.Reader) (io.Reader, func(), error) {
	return bzip2.NewReader(r), nil, nil
}}

// zstdLayer decodes Zstandard with a window of at most 128 MiB (a frame
// that asks for more is refused rather than allocated) and one goroutine.
func zstdLayer(cfg *Config) layer {
	return layer{name: "zstd", suffixes: []string{".zst", ".zstd"}, open: func(r io.Reader) (io.Reader, func(), error) {
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(uint64(cfg.MaxDecompressedSize)))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}, tooLarge: func(err error) bool {
		return errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded)
	}}
}

// zstdMaxWindow bounds the memory a zstd frame may make the decoder use.
const zstdMaxWindow = 128 << 20

// openStream reads a compressed stream: its content is opened as a file
// of its own (by content again), and the stream is read to its end, which
// checks its checksums (gzip and bzip2 CRC-32, zstd's XXH64 when the frame
// has one). Whatever the decoder refuses, the source not having failed, is
// a property of the file.
func (d *decoder) openStream(ctx context.Context, r io.Reader, entry string, depth int, l layer) error {
	src := &sourceReader{r: r}
	dr, closeDecoder, err := l.open(src)
	if err != nil {
		if src.err != nil {
			return err
		}
		return newBadFile(fmt.Errorf("reading the %s header: %w", l.name, err))
	}
	if closeDecoder != nil {
		defer closeDecoder()
	}
	vr := &verifiedReader{r: dr, src: src, what: l.name, tooLarge: l.tooLarge}
	lr := &limitReader{r: vr, in: &src.n, cfg: d.cfg, what: l.name + " stream"}
	if err := d.open(ctx, lr, trimSuffixes(entry, l.suffixes...), depth+1); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, lr)
	return err
}

// trimSuffixes removes the first of suffixes that name ends with.
func trimSuffixes(name string, suffixes ...string) string {
	for _, s := range suffixes {
		if len(name) > len(s) && strings.EqualFold(name[len(name)-len(s):], s) {
			return name[:len(name)-len(s)]
		}
	}
	return name
}

// sourceReader counts the bytes read through it and remembers the first
// error of its source other than io.EOF.
type sourceReader struct {
	r   io.Reader
	n   int64
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// verifiedReader marks the errors of a decoder as file errors unless its
// source failed (then they are the source's: a transport problem).
type verifiedReader struct {
	r        io.Reader
	src      *sourceReader
	what     string
	tooLarge func(error) bool
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if err != nil && err != io.EOF && v.src.err == nil && !IsPermanent(err) {
		if v.tooLarge != nil && v.tooLarge(err) {
			err = fmt.Errorf("%w: %s: %w", ErrTooLarge, v.what, err)
		}
		err = newBadFile(fmt.Errorf("%s: %w", v.what, err))
	}
	return n, err
}

// corrupt reports whether err says compressed data is damaged.
func corrupt(err error) bool {
	var fe flate.CorruptInputError
	return errors.As(err, &fe) || errors.Is(err, io.ErrUnexpectedEOF)
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
