package profiles_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// refusingHook is a CreationHook whose writes the server refuses.
type refusingHook struct{}

func (refusingHook) CreationKeys(account string) []string { return nil }

func (refusingHook) CreatedWrites(_ context.Context, account string, _ []string, created []*profiles.Profile) ([][]any, error) {
	return [][]any{{"NO_SUCH_COMMAND", "bs:{" + account + "}:x"}}, nil
}

func (refusingHook) ProfilesChanged(context.Context, string, []profiles.Change) error { return nil }

// TestRefusedCreationWriteFailsTheWrite: a creation write that the server
// refuses fails the profile write, on Redis (which aborts the transaction)
// and on miniredis (which runs the rest of it), through Upsert and through
// a Bulk's streamed commits.
func TestRefusedCreationWriteFailsTheWrite(t *testing.T) {
	t.Parallel()
	real, ns := redistest.Client(t)
	mr := miniredis.RunT(t)
	mini := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = mini.Close() })
	for name, s := range map[string]*profiles.Store{
		"redis":     profiles.New(real, ns, refusingHook{}, profiles.Options{}),
		"miniredis": profiles.New(mini, "bs", refusingHook{}, profiles.Options{}),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			_, err := s.Upsert(ctx, "a", "web", []profiles.Record{rec(t0, map[string]any{"email": "a@x.io"})})
			if err == nil {
				t.Fatal("Upsert with a refused creation write succeeded")
			}
			var recs []profiles.Record
			for i := range 300 {
				recs = append(recs, rec(t0, map[string]any{"email": fmt.Sprintf("b%d@x.io", i)}))
			}
			b := s.NewBulk("b", "web")
			fresh, err := b.Preread(ctx, recs)
			if err != nil {
				t.Fatal(err)
			}
			_, uerr := b.Upsert(ctx, recs, fresh)
			_, cerr := b.Close()
			if uerr == nil && cerr == nil {
				t.Fatal("a Bulk with a refused creation write succeeded")
			}
		})
	}
}
