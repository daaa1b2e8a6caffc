package jobs

import (
	"context"
	"errors"
	"testing"

	"github.com/brazesync/brazesync/internal/fault"
)

// TestCheckValidatesAndStoresNothing: Check refuses what Create refuses,
// and a job it accepts is not stored.
func TestCheckValidatesAndStoresNothing(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	_, err := s.Check(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Config: map[string]any{"fail": true}})
	var ve *fault.ValidationError
	if !errors.As(err, &ve) || ve.Field != "config.fail" {
		t.Fatalf("Check of a bad config: %v", err)
	}
	j, err := s.Check(ctx, "acme", Input{Type: "demo", Label: p("x"), AuthorizationID: p("au_b"), Config: map[string]any{"a": 1.0}})
	if err != nil || j.ID != "" || j.Account != "acme" || j.Config["a"] != 1.0 || j.AuthorizationID != "au_b" {
		t.Fatalf("Check: %+v %v", j, err)
	}
	if list, err := s.List(ctx, "acme", true); err != nil || len(list) != 0 {
		t.Fatalf("Check stored a job: %+v %v", list, err)
	}
}
