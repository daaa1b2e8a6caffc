package csvimport

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

func readCSV(t *testing.T, r *RejectedRows) [][]string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("the rejected rows are not CSV: %v\n%s", err, b.String())
	}
	return recs
}

// TestRejectedRowsKeepTheRawRows: each rejected row is kept as it was
// read, under the file's columns (fields past the header in _extra_N),
// with its line and reason code: a wrong column count, a missing identity,
// a bad timestamp, a bad value, a NUL byte, a CSV syntax error, and a row
// the sink refused.
func TestRejectedRowsKeepTheRawRows(t *testing.T) {
	t.Parallel()
	data := "user_id,email,updated,age,reject\n" +
		"u1,a@x.com,2024-01-02,30,no\n" + // line 2: good
		"u2,b@x.com,2024-01-02\n" + // 3: column count
		"u3,c@x.com,2024-01-02,35,no,surplus\n" + // 4: column count, one more
		",,2024-01-02,31,no\n" + // 5: no identity
		"u4,d@x.com,yesterday,32,no\n" + // 6: bad timestamp
		"u5,e@x.com,2024-01-02,old,no\n" + // 7: bad value
		"u6,f@x\x00.com,2024-01-02,33,no\n" + // 8: NUL byte
		"u7,\"g@x.com,2024-01-02,34,no\n" + // 9: stray quote, to the end
		""
	cfg := Config{TimestampColumns: []string{"updated"}, ColumnTypes: map[string]ColumnType{"age": TypeInt}, MaxBadRowShare: 1}
	rep, _, err := stageAndApply(t, []byte(data), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sinkData := "user_id,email,updated,age,reject\nu1,a@x.com,2024-01-02,30,yes\nu2,b@x.com,,,no\n"
	rep2, _, err := stageAndApply(t, []byte(sinkData), Config{Columns: []string{"email", "reject"}})
	if err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, rep.RejectedRows)
	want := [][]string{
		{"user_id", "email", "updated", "age", "reject", "_extra_1", "_line", "_reason"},
		{"u2", "b@x.com", "2024-01-02", "", "", "", "3", "column_count: has 3 fields, the header has 5"},
		{"u3", "c@x.com", "2024-01-02", "35", "no", "surplus", "4", "column_count: has 6 fields, the header has 5"},
		{"", "", "2024-01-02", "31", "no", "", "5", "missing_identity: no identity: user_id, email all empty"},
		{"u4", "d@x.com", "yesterday", "32", "no", "", "6", `bad_timestamp: timestamp "yesterday" does not parse`},
		{"u5", "e@x.com", "2024-01-02", "old", "no", "", "7", `bad_value: column age: "old" is not a valid int`},
		{"u6", "f@x\x00.com", "2024-01-02", "33", "no", "", "8", "encoding: column email holds a NUL byte: binary data is not text"},
	}
	if len(got) != len(want)+1 {
		t.Fatalf("got %d rows:\n%q", len(got), got)
	}
	for i, w := range want {
		if strings.Join(got[i], "|") != strings.Join(w, "|") {
			t.Errorf("row %d:\n got %q\nwant %q", i, got[i], w)
		}
	}
	if last := got[len(want)]; last[6] != "9" || !strings.HasPrefix(last[7], "csv_syntax: ") || last[0] != "" {
		t.Errorf("syntax error row: %q", last)
	}
	// The sink's rejection: the imported columns (and the identity) at
	// their places, the others empty.
	got2 := readCSV(t, rep2.RejectedRows)
	if len(got2) != 2 || strings.Join(got2[1], "|") != "u1|a@x.com|||yes|2|profile_rejected: sink says no" {
		t.Fatalf("sink rejection: %q", got2)
	}
}

// TestRejectedRowsAreBounded: past the bounds, rows are counted and a
// last row says how many are missing.
func TestRejectedRowsAreBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("user_id,city\n")
	for range 50 {
		b.WriteString(",Paris\n")
	}
	rep, _, err := stageAndApply(t, []byte(b.String()), Config{MaxBadRowShare: 1, RejectedRowsMax: 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 50 || rep.RejectedRows.Len() != 50 || len(rep.RejectedRows.Rows) != 10 {
		t.Fatalf("rejected %d, kept %d of %d", rep.Rejected, len(rep.RejectedRows.Rows), rep.RejectedRows.Len())
	}
	got := readCSV(t, rep.RejectedRows)
	if len(got) != 12 || got[11][0] != "" || got[11][2] != "" ||
		!strings.Contains(got[11][3], "truncated: 40 more rejected rows") {
		t.Fatalf("rows %d, last %q", len(got), got[len(got)-1])
	}
	rep, _, err = stageAndApply(t, []byte(b.String()), Config{MaxBadRowShare: 1, RejectedBytesMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rep.RejectedRows.Rows); n == 0 || n > 3 {
		t.Fatalf("kept %d rows within 100 bytes", n)
	}
}

// TestRejectedRowsOfArchiveMembers: rows from several members carry their
// member in _entry, under the union of the members' columns.
func TestRejectedRowsOfArchiveMembers(t *testing.T) {
	t.Parallel()
	archive := zipOf(t,
		zipEntry{"a.csv", []byte("user_id,city\nu1,Paris\n,Lyon\n")},
		zipEntry{"b.csv", []byte("email,country\n,FR\nx@y.z,DE\n")},
	)
	rep, _, err := stageAndApply(t, archive, Config{MaxBadRowShare: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, rep.RejectedRows)
	want := "user_id|city|email|country|_line|_reason|_entry\n" +
		"|Lyon|||3|missing_identity: no identity: user_id all empty|a.csv\n" +
		"|||FR|2|missing_identity: no identity: email all empty|b.csv\n"
	var lines []string
	for _, r := range got {
		lines = append(lines, strings.Join(r, "|"))
	}
	if strings.Join(lines, "\n")+"\n" != want {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(lines, "\n"), want)
	}
}
