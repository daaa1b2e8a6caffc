package importjob

import (
	"bytes"
	"testing"
)

// TestWriteRejectedOfSeveralFiles: the rows of several files come under
// the union of their columns, extra fields and bookkeeping columns last,
// with _file naming each row's file.
func TestWriteRejectedOfSeveralFiles(t *testing.T) {
	t.Parallel()
	files := []RejectedFile{
		{Path: "in/a.csv", CSV: []byte("email,city,_extra_1,_line,_reason\n,Paris,x,2,column_count: has 3 fields\n")},
		{Path: "in/b.zip", CSV: []byte("user_id,city,_line,_reason,_entry\n,Lyon,3,missing_identity: none,b1.csv\n")},
	}
	var b bytes.Buffer
	if err := WriteRejected(&b, files); err != nil {
		t.Fatal(err)
	}
	want := "email,city,user_id,_extra_1,_line,_reason,_entry,_file\n" +
		",Paris,,x,2,column_count: has 3 fields,,in/a.csv\n" +
		",Lyon,,,3,missing_identity: none,b1.csv,in/b.zip\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteRejected(&b, files[:1]); err != nil || b.String() != string(files[0].CSV) {
		t.Fatalf("one file: %v\n%s", err, b.String())
	}
}
