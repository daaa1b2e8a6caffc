package csvimport

import (
	"archive/tar"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// compressWith runs a compressor as a user would (bzip2, zstd) on data.
func compressWith(t testing.TB, tool string, data []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", tool, args, err, stderr.String())
	}
	return out
}

func tarOf(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(e.data)
	}
	if err := w.WriteHeader(&tar.Header{Name: "link.csv", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBzip2AndZstd: files compressed by the bzip2 and zstd tools import;
// a damaged or truncated one applies no row.
func TestBzip2AndZstd(t *testing.T) {
	t.Parallel()
	data := csvRows(3000)
	for _, c := range []struct {
		tool string
		args []string
	}{{"bzip2", []string{"-c"}}, {"zstd", []string{"-c", "-q"}}} {
		t.Run(c.tool, func(t *testing.T) {
			t.Parallel()
			packed := compressWith(t, c.tool, data, c.args...)
			rep, sink, err := stageAndApply(t, packed, Config{})
			if err != nil || len(sink.all()) != 3000 || rep.Applied != 3000 {
				t.Fatalf("%v %+v", err, rep)
			}
			bad := bytes.Clone(packed)
			bad[len(bad)/2] ^= 0x5a
			_, sink, err = stageAndApply(t, bad, Config{})
			mustBadFile(t, err, nil)
			if len(sink.all()) != 0 {
				t.Fatal("rows applied from a damaged file")
			}
			_, sink, err = stageAndApply(t, packed[:len(packed)-10], Config{})
			mustBadFile(t, err, nil)
			if len(sink.all()) != 0 {
				t.Fatal("rows applied from a truncated file")
			}
		})
	}
}

// TestTarArchives: every CSV member of a tar (plain, gzip-compressed as
// .tar.gz or .tgz, or zstd-compressed) is imported; other members, links
// and unsafe names are skipped; a bad member fails the whole archive.
func TestTarArchives(t *testing.T) {
	t.Parallel()
	archive := tarOf(t,
		zipEntry{"users-1.csv", csvRows(3)},
		zipEntry{"dir/", nil},
		zipEntry{"dir/users-2.csv.gz", gz(t, csvRows(2))},
		zipEntry{"../evil.csv", csvRows(5)},
		zipEntry{"manifest.json", []byte(`{"rows": 5}`)},
		zipEntry{"._users-1.csv", []byte{0, 1, 2}},
	)
	for name, data := range map[string][]byte{
		"tar": archive, "tar.gz": gz(t, archive), "tar.zst": compressWith(t, "zstd", archive, "-c", "-q"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep, sink, err := stageAndApply(t, data, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if len(sink.all()) != 5 || strings.Join(rep.Entries, ",") != "users-1.csv,dir/users-2.csv.gz" {
				t.Fatalf("applied %d, entries %v", len(sink.all()), rep.Entries)
			}
			if last := sink.all()[4]; last.Entry != "dir/users-2.csv" || last.Line != 3 {
				t.Fatalf("last record %+v", last)
			}
		})
	}

	t.Run("bad member", func(t *testing.T) {
		t.Parallel()
		bad := tarOf(t, zipEntry{"a.csv", csvRows(100)}, zipEntry{"b.csv", []byte("city\nParis\n")})
		_, sink, err := stageAndApply(t, gz(t, bad), Config{})
		mustBadFile(t, err, ErrNoIdentityColumn)
		if len(sink.all()) != 0 {
			t.Fatal("rows of the good first member were applied although the second is bad")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		whole := tarOf(t, zipEntry{"a.csv", csvRows(2000)})
		_, sink, err := stageAndApply(t, whole[:len(whole)/2], Config{})
		mustBadFile(t, err, nil)
		if len(sink.all()) != 0 {
			t.Fatal("rows applied from a truncated tar")
		}
	})
}

// TestNewFormatBombs: the decompression limits hold for bzip2, zstd and
// the members of a tar.
func TestNewFormatBombs(t *testing.T) {
	t.Parallel()
	const grace = 128 << 10
	body := append([]byte("user_id\n"), bytes.Repeat([]byte("0\n"), grace)...)
	for _, packed := range [][]byte{
		compressWith(t, "bzip2", body, "-c"),
		compressWith(t, "zstd", body, "-c", "-q", "-19"),
		gz(t, tarOf(t, zipEntry{"z.csv", body})),
	} {
		_, _, err := stageAndApply(t, packed, Config{ratioGrace: grace})
		mustBadFile(t, err, ErrTooLarge)
		_, _, err = stageAndApply(t, packed, Config{MaxDecompressedSize: 64 << 10})
		mustBadFile(t, err, ErrTooLarge)
	}
}

func TestUTF16FileIsRefusedClearly(t *testing.T) {
	t.Parallel()
	_, _, err := stageAndApply(t, []byte{0xff, 0xfe, 'u', 0, 's', 0}, Config{})
	mustBadFile(t, err, nil)
	if !strings.Contains(err.Error(), "UTF-16") {
		t.Fatalf("error %v does not say UTF-16", err)
	}
}
