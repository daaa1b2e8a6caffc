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

// TestSentStateKeepsItsTime: the time appended to an accepted state comes
// off before plans compare states, and a state without one (stored by an
// earlier version) reads as it is.
func TestSentStateKeepsItsTime(t *testing.T) {
	t.Parallel()
	s := "external_id=u1" + stateSep + "a,b"
	core, ms := stateCore(s + acceptedTag + "1700000000000")
	if core != s || ms != 1700000000000 {
		t.Fatalf("stateCore: %q %d", core, ms)
	}
	if core, ms := stateCore(s); core != s || ms != 0 {
		t.Fatalf("a state without a time: %q %d", core, ms)
	}
	vals := acceptedStates([]any{s + acceptedTag + "5", nil, s})
	if vals[0] != s || vals[1] != nil || vals[2] != s {
		t.Fatalf("acceptedStates: %v", vals)
	}
}
