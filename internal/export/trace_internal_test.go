package export

import (
	"context"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestUserErrorsAreBounded: the per-user rejections of a job keep at most
// the number asked, however many users Braze rejects.
func TestUserErrorsAreBounded(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := context.Background()
	key := keys{ns}.errors("acct", "job")
	for round := range 3 {
		args := []any{5}
		for i := range 4 {
			args = append(args, string(rune('a'+round*4+i)), `{"m":"x","t":1}`)
		}
		if err := userErrorsScript.Run(ctx, rdb, []string{key}, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := rdb.HLen(ctx, key).Result(); err != nil || n != 5 {
		t.Fatalf("%d users' errors kept (%v), want 5", n, err)
	}
}

// TestSentStateKeepsItsTime: a state with the time Braze accepted it
// compares equal to the same state planned again, and gives its time.
func TestSentStateKeepsItsTime(t *testing.T) {
	t.Parallel()
	s := "external_id=u1" + stateSep + "a,b"
	ident, in, ms := parseState(s + stateSep + "1700000000000")
	if ident != "external_id=u1" || len(in) != 2 || ms != 1700000000000 || stateCore(s+stateSep+"1700000000000") != s || stateCore(s) != s {
		t.Fatalf("parsed %q %v %d", ident, in, ms)
	}
	if _, in, ms := parseState("external_id=u1" + stateSep); in != nil || ms != 0 {
		t.Fatalf("a state with no audience: %v %d", in, ms)
	}
}
