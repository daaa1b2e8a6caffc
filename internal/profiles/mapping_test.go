package profiles_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

func TestMappingValidateNamesTheField(t *testing.T) {
	t.Parallel()
	id := profiles.FieldMapping{Source: "email", Field: "email", Identity: true}
	cases := []struct {
		m     profiles.Mapping
		field string
	}{
		{profiles.Mapping{Fields: []profiles.FieldMapping{{Source: "a", Field: "a"}}}, "fields"},
		{profiles.Mapping{Fields: []profiles.FieldMapping{id, {Source: "", Field: "x"}}}, "fields[1].source"},
		{profiles.Mapping{Fields: []profiles.FieldMapping{id, {Source: "x", Field: " "}}}, "fields[1].field"},
		{profiles.Mapping{Fields: []profiles.FieldMapping{id, {Source: "x", Field: "x", Type: "money"}}}, "fields[1].type"},
		{profiles.Mapping{Fields: []profiles.FieldMapping{id, {Source: "n", Field: "n", Type: profiles.TypeNumber, Identity: true}}}, "fields[1].type"},
		{profiles.Mapping{Fields: []profiles.FieldMapping{id, {Source: "E-Mail", Field: "x"}, {Source: "e mail", Field: "y"}}}, "fields[2].source"},
	}
	for _, c := range cases {
		err := c.m.Validate()
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, profiles.ErrInvalidMapping) {
			t.Errorf("Validate(%+v) = %v, want a ValidationError on %s", c.m.Fields, err, c.field)
		}
	}
	for _, m := range []profiles.Mapping{profiles.BrazeUsersMapping(), profiles.DefaultMapping("x")} {
		if err := m.Validate(); err != nil {
			t.Errorf("built-in mapping %s: %v", m.Stream, err)
		}
	}
}

func TestStoredMappingIsReadAndApplied(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := profiles.New(rdb, ns, nil, profiles.Options{})
	other := profiles.New(rdb, ns, nil, profiles.Options{MappingTTL: time.Millisecond})
	ctx := context.Background()
	acct := "acct-" + redistest.RandomID()

	m, err := s.Mapping(ctx, acct, "crm")
	if err != nil || !m.Builtin {
		t.Fatalf("Mapping before any is stored = %+v, %v; want the built-in default", m, err)
	}
	// Warm the other store's cache with the default mapping.
	if _, err := other.Upsert(ctx, acct, "crm", []profiles.Record{{Fields: map[string]any{"email": "w@x.io"}}}); err != nil {
		t.Fatal(err)
	}
	custom := profiles.Mapping{
		TimestampField: "updated",
		Fields: []profiles.FieldMapping{
			{Source: "Customer No", Field: "customer_id", Identity: true},
			{Source: "score", Field: "score", Type: profiles.TypeNumber},
			{Source: "active", Field: "active", Type: profiles.TypeBoolean},
			{Source: "since", Field: "since", Type: profiles.TypeTimestamp},
		},
	}
	if err := s.SetMapping(ctx, acct, "crm", custom); err != nil {
		t.Fatal(err)
	}
	got, err := s.Mapping(ctx, acct, "crm")
	if err != nil || got.Builtin || len(got.Fields) != 4 || got.TimestampField != "updated" || got.Stream != "crm" {
		t.Fatalf("stored mapping = %+v, %v", got, err)
	}
	// The other process sees the change once its cache expires.
	deadline := time.Now().Add(2 * time.Second)
	for {
		res, err := other.Upsert(ctx, acct, "crm", []profiles.Record{{Fields: map[string]any{
			"customer_no": "C-1", "score": "7.5", "active": "yes", "since": 1700000000.0, "updated": "2026-01-01T00:00:00Z",
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new mapping was not picked up: %+v", res)
		}
		time.Sleep(2 * time.Millisecond) // polling with a deadline for the cache to expire
	}
	p, err := s.Lookup(ctx, acct, "customer_id", "C-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields["score"] != 7.5 || p.Fields["active"] != true || p.Fields["since"] != time.Unix(1700000000, 0).UTC() {
		t.Errorf("typed fields = %#v", p.Fields)
	}
	if !p.LastSeen.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("last seen = %v, want the record's timestamp field", p.LastSeen)
	}
	// Wrong types in mapped fields are rejected with the field named.
	res, err := s.Upsert(ctx, acct, "crm", []profiles.Record{{Fields: map[string]any{"customer_no": "C-2", "active": "perhaps"}}})
	if err != nil || len(res.Rejected) != 1 || res.Applied != 0 {
		t.Fatalf("bad boolean: %+v, %v", res, err)
	}
	if err := s.ResetMapping(ctx, acct, "crm"); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Mapping(ctx, acct, "crm"); !m.Builtin {
		t.Errorf("after reset the mapping is %+v, want the built-in", m)
	}
	if err := s.SetMapping(ctx, acct, "crm", profiles.Mapping{}); !errors.Is(err, profiles.ErrInvalidMapping) {
		t.Errorf("SetMapping(empty) = %v, want ErrInvalidMapping", err)
	}
}
