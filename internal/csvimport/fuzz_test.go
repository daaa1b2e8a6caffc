package csvimport

import (
	"bytes"
	"context"
	"testing"
)

// FuzzStage: no file panics the CSV reader (decompression, delimiter
// detection, header and row checks), a staged file accounts for every row
// read, and its report stays bounded.
func FuzzStage(f *testing.F) {
	seeds := [][]byte{
		[]byte("email,braze_id\na@x.io,b1\nb@x.io,b2\n"),
		[]byte("\xEF\xBB\xBFexternal_id;email\nu1;a@x.io\n"),
		[]byte("a\tb\n1\t2\n"),
		[]byte("email,name\n\"a@x.io\",\"unterminated\n"),
		[]byte("email,name\na@x.io,\"x\"\"y\"\n\"b@x.io\",caf\xe9\n"),
		[]byte("email,email\na,b\n"),
		[]byte("email\n"),
		[]byte(""),
		[]byte("\n\n\n"),
		[]byte("email,x\na@x.io\nb@x.io,1,2\n"),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add(gz(f, []byte("email\na@x.io\n")))
	f.Add(gz(f, gz(f, []byte("email\na@x.io\n"))))
	f.Add(zipOf(f, zipEntry{"a.csv", []byte("email\na@x.io\n")}, zipEntry{"b.csv", []byte("email\nb@x.io\n")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Config{TempDir: t.TempDir(), MaxBadRowShare: 1, MaxDecompressedSize: 64 << 20}
		st, err := Stage(context.Background(), bytes.NewReader(data), "file.csv", int64(len(data)), cfg)
		if st == nil {
			if err == nil {
				t.Fatal("Stage returned neither a result nor an error")
			}
			return
		}
		defer st.Close()
		rep := st.Report
		if len(rep.Warnings) > maxWarnings+1 || len(rep.Entries) > maxEntries || len(rep.Rejections) > MaxRejectionsKeptDefault {
			t.Fatalf("report grew past its bounds: %d warnings, %d entries, %d rejections", len(rep.Warnings), len(rep.Entries), len(rep.Rejections))
		}
		if err != nil {
			return
		}
		if rep.RowsStaged+rep.Rejected != rep.RowsRead {
			t.Fatalf("%d rows read, %d staged and %d rejected", rep.RowsRead, rep.RowsStaged, rep.Rejected)
		}
	})
}
