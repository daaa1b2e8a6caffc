package csvimport

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseDelimitersQuotingAndLineEndings(t *testing.T) {
	t.Parallel()
	for _, d := range []string{",", "|", ";", "\t"} {
		t.Run(delimiterName(rune(d[0])), func(t *testing.T) {
			t.Parallel()
			body := "\xEF\xBB\xBFuser_id" + d + "email" + d + "note\r\n" +
				"u1" + d + "a@x.io" + d + "\"multi\r\nline, \"\"quoted\"\"\"\r\n" +
				"u2" + d + "b@x.io" + d + "plain\r\n"
			rep, sink, err := stageAndApply(t, []byte(body), Config{})
			if err != nil {
				t.Fatal(err)
			}
			recs := sink.all()
			if len(recs) != 2 || rep.Applied != 2 || rep.Delimiter != delimiterName(rune(d[0])) {
				t.Fatalf("report %+v, %d records", rep, len(recs))
			}
			if got := recs[0].Field("note"); got != "multi\r\nline, \"quoted\"" && got != "multi\nline, \"quoted\"" {
				t.Fatalf("quoted field %q", got)
			}
			if recs[0].Field("user_id") != "u1" || recs[1].Line != 4 || recs[0].Line != 2 {
				t.Fatalf("records %+v", recs)
			}
		})
	}
}

func TestRaggedAndBadRowsRejectedOneByOne(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("user_id,email,age,signup\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "u%d,u%d@x.io,%d,2024-01-02\n", i, i, i)
	}
	b.WriteString("short,row\n")                     // line 32
	b.WriteString(",,5,2024-01-02\n")                // line 33: no identity
	b.WriteString("u99,x@x.io,old,2024-01-02\n")     // line 34: bad int
	b.WriteString("u98,y@x.io,7,yesterday-ish\n")    // line 35: bad timestamp
	b.WriteString("u97,\"z@x.io,8,2024-01-02\n\"\n") // quoted: 3 fields
	cfg := Config{ColumnTypes: map[string]ColumnType{"age": TypeInt}, TimestampColumns: []string{"signup"},
		MaxBadRowShare: 0.5}
	rep, sink, err := stageAndApply(t, []byte(b.String()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.all()) != 30 || rep.Rejected != 5 {
		t.Fatalf("applied %d, rejected %d: %+v", len(sink.all()), rep.Rejected, rep.Rejections)
	}
	want := map[int64]string{32: "has 2 fields", 33: "no identity", 34: "column age", 35: "timestamp", 36: "has 2 fields"}
	for _, r := range rep.Rejections {
		if w, ok := want[r.Line]; !ok || !strings.Contains(r.Reason, w) {
			t.Errorf("rejection %+v, want line %d to say %q", r, r.Line, want[r.Line])
		}
	}
	if ev := sink.all()[0].EventTime; !ev.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("event time %v", ev)
	}

	// The same file with the default 10% limit fails and applies nothing.
	rep, sink, err = stageAndApply(t, []byte(b.String()), Config{ColumnTypes: cfg.ColumnTypes, TimestampColumns: cfg.TimestampColumns})
	mustBadFile(t, err, ErrTooManyBadRows)
	if len(sink.all()) != 0 || sink.calls != 0 {
		t.Fatal("rows applied from a failed file")
	}
	if rep == nil || rep.Rejected != 5 {
		t.Fatalf("the failed file's report should list its rejections: %+v", rep)
	}
}

func TestHeaderDecisions(t *testing.T) {
	t.Parallel()
	t.Run("duplicates renamed", func(t *testing.T) {
		t.Parallel()
		rep, sink, err := stageAndApply(t, []byte("email,name,Name,,email\na@x,A,B,C,D\n"), Config{})
		if err != nil {
			t.Fatal(err)
		}
		f := sink.all()[0].Map()
		if f["email"] != "a@x" || f["email_2"] != "D" || f["name"] != "A" || f["Name_2"] != "B" || f["column_4"] != "C" {
			t.Fatalf("fields %v", f)
		}
		if len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "duplicate") {
			t.Fatalf("warnings %v", rep.Warnings)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		rep, sink, err := stageAndApply(t, nil, Config{})
		if err != nil || len(sink.all()) != 0 || len(rep.Warnings) != 1 {
			t.Fatalf("%v %+v", err, rep)
		}
	})
	t.Run("header only", func(t *testing.T) {
		t.Parallel()
		rep, sink, err := stageAndApply(t, []byte("user_id,email\r\n"), Config{})
		if err != nil || len(sink.all()) != 0 || rep.RowsRead != 0 || !strings.Contains(strings.Join(rep.Warnings, ";"), "header only") {
			t.Fatalf("%v %+v", err, rep)
		}
	})
	t.Run("no identity column", func(t *testing.T) {
		t.Parallel()
		_, _, err := stageAndApply(t, []byte("a,b\n1,2\n"), Config{})
		mustBadFile(t, err, ErrNoIdentityColumn)
	})
	t.Run("given headers", func(t *testing.T) {
		t.Parallel()
		_, sink, err := stageAndApply(t, []byte("u1;a@x\nu2;b@x\n"), Config{Headers: []string{"user_id", "email"}})
		if err != nil || len(sink.all()) != 2 || sink.all()[1].Field("email") != "b@x" || sink.all()[0].Line != 1 {
			t.Fatalf("%v %+v", err, sink.all())
		}
	})
}

func TestColumnsTimestampsAndLatin1(t *testing.T) {
	t.Parallel()
	body := "Braze ID,user_id,email,first_name,created_at,last_session\n" +
		"b1,u1,a@x,Ren\xe9e,2020-05-01 10:00:00 UTC,\n" +
		"b2,u2,b@x,Zo\xeb,,1700000000\n" +
		"b3,,c@x,Ann,2020-05-01T10:00:00Z,2021-01-01\n"
	rep, sink, err := stageAndApply(t, []byte(body), Config{
		Columns:          []string{"first_name", "missing"},
		TimestampColumns: []string{"last_session", "created_at"},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := sink.all()
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	// Identity columns come along although Columns leaves them out.
	if _, ok := recs[0].Map()["created_at"]; ok || recs[0].Field("Braze ID") != "b1" || recs[0].Field("email") != "a@x" {
		t.Fatalf("columns %v", recs[0].Map())
	}
	if recs[0].Field("first_name") != "Renée" || recs[1].Field("first_name") != "Zoë" {
		t.Fatalf("latin-1: %q %q", recs[0].Field("first_name"), recs[1].Field("first_name"))
	}
	if !recs[0].EventTime.Equal(time.Date(2020, 5, 1, 10, 0, 0, 0, time.UTC)) ||
		!recs[1].EventTime.Equal(time.Unix(1700000000, 0)) ||
		!recs[2].EventTime.Equal(time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("event times %v %v %v", recs[0].EventTime, recs[1].EventTime, recs[2].EventTime)
	}
	w := strings.Join(rep.Warnings, ";")
	if !strings.Contains(w, "missing") || !strings.Contains(w, "Windows-1252") {
		t.Fatalf("warnings %v", rep.Warnings)
	}
}

func TestUnterminatedQuoteDoesNotEatMemory(t *testing.T) {
	t.Parallel()
	body := "user_id,note\nu1,ok\nu2,\"never closed\n" + strings.Repeat("x,y,z\n", (maxRecordBytes/6)+100_000)
	_, sink, err := stageAndApply(t, []byte(body), Config{})
	mustBadFile(t, err, nil)
	if !strings.Contains(err.Error(), "after line 2") || len(sink.all()) != 0 {
		t.Fatalf("got %v, %d rows applied", err, len(sink.all()))
	}
}
