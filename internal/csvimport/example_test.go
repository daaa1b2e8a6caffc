package csvimport_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/brazesync/brazesync/internal/csvimport"
)

type printSink struct{}

func (printSink) Apply(_ context.Context, recs []csvimport.Record) (int, []csvimport.Rejection, error) {
	for _, r := range recs {
		fmt.Printf("line %d: %s %s %s\n", r.Line, r.Field("user_id"), r.Field("email"), r.EventTime.Format("2006-01-02"))
	}
	return len(recs), nil, nil
}

// Stage a file, then apply it. Without Diff, Apply needs no Redis; jobs use
// Importer.ImportFile, which adds the ledger and the job lock.
func ExampleStage() {
	file := "user_id;email;last_session\nu1;a@example.com;2026-11-01 10:00:00 UTC\n;;\nu2;b@example.com;2026-11-02 11:00:00 UTC\n"
	st, err := csvimport.Stage(context.Background(), strings.NewReader(file), "users.csv", int64(len(file)),
		csvimport.Config{TempDir: os.TempDir(), TimestampColumns: []string{"last_session"}, MaxBadRowShare: 0.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	rep, err := csvimport.NewImporter(nil, "", nil).Apply(context.Background(), csvimport.Job{}, st, printSink{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("delimiter %s, applied %d, rejected %d: line %d %s\n", rep.Delimiter, rep.Applied, rep.Rejected,
		rep.Rejections[0].Line, rep.Rejections[0].Reason)
	// Output:
	// line 2: u1 a@example.com 2026-11-01
	// line 4: u2 b@example.com 2026-11-02
	// delimiter ;, applied 2, rejected 1: line 3 no identity: user_id, email all empty
}
