package csvimport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/pgp"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
)

func csvRows(n int) []byte {
	var b strings.Builder
	b.WriteString("user_id,email,city\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "u%d,u%d@example.com,City %d\n", i, i, i%50)
	}
	return []byte(b.String())
}

func TestGzip(t *testing.T) {
	t.Parallel()
	data := csvRows(2000)
	rep, sink, err := stageAndApply(t, gz(t, data), Config{})
	if err != nil || len(sink.all()) != 2000 || rep.Applied != 2000 {
		t.Fatalf("%v %+v", err, rep)
	}

	bad := gz(t, data)
	bad[len(bad)-6] ^= 0xff // CRC-32 in the trailer
	_, sink, err = stageAndApply(t, bad, Config{})
	mustBadFile(t, err, nil)
	if len(sink.all()) != 0 {
		t.Fatal("rows applied from a gzip file with a bad CRC")
	}

	_, sink, err = stageAndApply(t, gz(t, data)[:len(bad)/2], Config{})
	mustBadFile(t, err, nil)
	if len(sink.all()) != 0 {
		t.Fatal("rows applied from a truncated gzip file")
	}
}

func TestZipEntries(t *testing.T) {
	t.Parallel()
	archive := zipOf(t,
		zipEntry{"users-1.csv", csvRows(3)},
		zipEntry{"dir/", nil},
		zipEntry{"nested/users-2.csv", csvRows(2)},
		zipEntry{"../evil.csv", csvRows(5)},
		zipEntry{"/abs.csv", csvRows(5)},
		zipEntry{"__MACOSX/._users-1.csv", []byte{0, 1, 2}},
		zipEntry{"readme.txt", []byte("not a csv")},
	)
	rep, sink, err := stageAndApply(t, archive, Config{EntryPattern: regexp.MustCompile(`\.csv$`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.all()) != 5 || strings.Join(rep.Entries, ",") != "users-1.csv,nested/users-2.csv" {
		t.Fatalf("applied %d, entries %v", len(sink.all()), rep.Entries)
	}
	if sink.all()[4].Entry != "nested/users-2.csv" || sink.all()[4].Line != 3 {
		t.Fatalf("last record %+v", sink.all()[4])
	}
}

func TestZipEntryCorruptData(t *testing.T) {
	t.Parallel()
	good := zipOf(t, zipEntry{"a.csv", csvRows(100)}, zipEntry{"b.csv", csvRows(500)})
	// Flip a byte in the middle of the second entry's compressed data.
	second := bytes.Index(good[10:], []byte("PK\x03\x04")) + 10
	bad := bytes.Clone(good)
	bad[second+30+len("b.csv")+200] ^= 0x55
	_, sink, err := stageAndApply(t, bad, Config{})
	mustBadFile(t, err, nil)
	if len(sink.all()) != 0 {
		t.Fatal("rows of the good first entry were applied although the second is corrupt")
	}
}

func TestDecompressionBombs(t *testing.T) {
	t.Parallel()
	const grace = 128 << 10
	zeros := bytes.Repeat([]byte("0\n"), grace) // 256 KiB, compresses about 1000:1
	header := []byte("user_id\n")
	bomb := gz(t, append(header, zeros...))
	_, _, err := stageAndApply(t, bomb, Config{ratioGrace: grace})
	mustBadFile(t, err, ErrTooLarge)

	// The same content is fine when the ratio limit allows it.
	_, sink, err := stageAndApply(t, bomb, Config{ratioGrace: grace, MaxCompressionRatio: 1e6})
	if err != nil || len(sink.all()) != grace {
		t.Fatalf("allowed ratio: %v, %d rows", err, len(sink.all()))
	}

	_, _, err = stageAndApply(t, gz(t, csvRows(1000)), Config{MaxDecompressedSize: 10 << 10})
	mustBadFile(t, err, ErrTooLarge)

	zbomb := zipOf(t, zipEntry{"z.csv", append(header, zeros...)})
	_, _, err = stageAndApply(t, zbomb, Config{ratioGrace: grace})
	mustBadFile(t, err, ErrTooLarge)
}

type gpgBundle struct {
	gpg *sshdtest.GPG
	uid string
	key *pgp.Key
}

func newGPGBundle(t *testing.T) *gpgBundle {
	t.Helper()
	g := sshdtest.NewGPG(t)
	uid := "import@example.com"
	// No passphrase: unlocking one costs seconds of S2K under -race, and
	// package pgp tests passphrases.
	g.GenKey(t, uid, "default", "")
	key, err := pgp.ParsePrivateKey(g.ExportSecret(t, uid, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &gpgBundle{gpg: g, uid: uid, key: key}
}

func TestPGPFiles(t *testing.T) {
	t.Parallel()
	b := newGPGBundle(t)
	data := csvRows(3000)
	cfg := Config{PGPKey: b.key, RequireEncryption: true}

	for name, ct := range map[string][]byte{
		"binary":        b.gpg.Encrypt(t, data, b.uid),
		"armored":       b.gpg.Encrypt(t, data, b.uid, "--armor"),
		"gzip inside":   b.gpg.Encrypt(t, gz(t, data), b.uid, "-z", "0"),
		"zip inside":    b.gpg.Encrypt(t, zipOf(t, zipEntry{"x.csv", data}), b.uid),
		"uncompressed":  b.gpg.Encrypt(t, data, b.uid, "-z", "0"),
		"armored+zlib":  b.gpg.Encrypt(t, data, b.uid, "--armor", "--compress-algo", "zlib"),
		"signed+binary": b.gpg.Encrypt(t, data, b.uid, "--sign", "--local-user", b.uid, "--passphrase", ""),
	} {
		rep, sink, err := stageAndApply(t, ct, cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(sink.all()) != 3000 || !rep.Encrypted {
			t.Fatalf("%s: %d rows, report %+v", name, len(sink.all()), rep)
		}
	}

	ct := b.gpg.Encrypt(t, data, b.uid, "-z", "0")
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-200] ^= 0x01
	_, sink, err := stageAndApply(t, tampered, cfg)
	mustBadFile(t, err, pgp.ErrIntegrity)
	if len(sink.all()) != 0 {
		t.Fatal("rows applied from a tampered file")
	}

	_, sink, err = stageAndApply(t, ct[:len(ct)*2/3], cfg)
	mustBadFile(t, err, pgp.ErrIntegrity)
	if len(sink.all()) != 0 {
		t.Fatal("rows applied from a truncated file")
	}

	_, _, err = stageAndApply(t, ct, Config{})
	mustBadFile(t, err, ErrNeedsKey)

	_, _, err = stageAndApply(t, data, cfg)
	mustBadFile(t, err, ErrNotEncrypted)

	b.gpg.GenKey(t, "someone@example.com", "default", "")
	other := b.gpg.Encrypt(t, data, "someone@example.com")
	_, _, err = stageAndApply(t, other, cfg)
	var wk *pgp.WrongKeyError
	if !errors.As(err, &wk) || !IsPermanent(err) {
		t.Fatalf("wrong key: got %v", err)
	}
}

type brokenReader struct {
	r   io.Reader
	n   int
	err error
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, b.err
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

func TestTransportErrorIsTransient(t *testing.T) {
	t.Parallel()
	b := newGPGBundle(t)
	data := csvRows(3000)
	reset := errors.New("connection reset by peer")
	for name, body := range map[string][]byte{
		"plain": data,
		"gzip":  gz(t, data),
		"pgp":   b.gpg.Encrypt(t, data, b.uid, "-z", "0"),
	} {
		src := &brokenReader{r: bytes.NewReader(body), n: len(body) / 2, err: reset}
		_, err := Stage(context.Background(), src, "f", 0, Config{TempDir: t.TempDir(), PGPKey: b.key})
		if !errors.Is(err, reset) || IsPermanent(err) {
			t.Fatalf("%s: got %v (permanent %v), want the transient transport error", name, err, IsPermanent(err))
		}
	}
}
