package profiles_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/csvimport"
	"github.com/brazesync/brazesync/internal/profiles"
)

func TestImportSinkAppliesBrazeExportRows(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	sink := profiles.ImportSink{Store: s, Account: b.acct, Stream: profiles.BrazeUsersStream}
	rows := []csvimport.Record{
		{Line: 2, EventTime: t0, Fields: map[string]string{"Appboy ID": "5f01", "user_id": "ext-1", "email": "A@x.io", "session_count": "4", "city": ""}},
		{Line: 3, EventTime: t0, Fields: map[string]string{"Appboy ID": "", "user_id": "", "email": "", "first_name": "nobody"}},
		{Line: 4, EventTime: t0.Add(time.Hour), Fields: map[string]string{"Appboy ID": "5f01", "session_count": "five", "email": "a@x.io"}},
		{Line: 5, EventTime: t0.Add(time.Hour), Fields: map[string]string{"Appboy ID": "5f01", "city": "Paris", "email": ""}},
	}
	applied, rej, err := sink.Apply(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	if applied != 2 || len(rej) != 2 || rej[0].Line != 3 || rej[1].Line != 4 || !strings.Contains(rej[1].Reason, "session_count") {
		t.Fatalf("applied %d, rejected %+v; want lines 3 (no identity) and 4 (bad number) rejected", applied, rej)
	}
	p, err := s.Lookup(context.Background(), b.acct, "external_id", "ext-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields["braze_id"] != "5f01" || p.Fields["session_count"] != 4.0 || p.Fields["city"] != "Paris" || p.Fields["email"] != "a@x.io" {
		t.Errorf("fields = %v; empty values must not clear, later rows fill in", p.Fields)
	}
}
