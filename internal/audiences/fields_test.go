package audiences_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/audiences"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestNeedsFieldsFollowsTheRules: with only the built-ins (and rules on
// identities or first seen) the hook needs no data field, so the store hands
// it light profiles; a rule on a data field switches the full read back on,
// and membership is right both ways.
func TestNeedsFieldsFollowsTheRules(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := context.Background()
	svc := audiences.New(rdb, ns, nil, audiences.Options{})
	ps := profiles.New(rdb, ns, svc, profiles.Options{})
	svc.UseProfiles(ps)
	var _ profiles.FieldsNeeder = svc
	upsert := func(fields map[string]string) string {
		t.Helper()
		if _, err := ps.Upsert(ctx, acct, "web", []profiles.Record{profiles.StringRecord(fields, time.Time{})}); err != nil {
			t.Fatal(err)
		}
		id, err := ps.Resolve(ctx, acct, map[string]string{"email": fields["email"]})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a := upsert(map[string]string{"email": "a@x.io", "country": "FR"})
	mustAudiences(t, svc, a, "lytics_all", "lytics_known", "lytics_new")
	if need, err := svc.NeedsFields(ctx, acct); err != nil || need {
		t.Fatalf("built-ins only: NeedsFields = %v %v, want false", need, err)
	}
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "mail", Kind: audiences.KindRule,
		Rule: json.RawMessage(`{"field":"identities.email","op":"exists"}`)}); err != nil {
		t.Fatal(err)
	}
	if need, _ := svc.NeedsFields(ctx, acct); need {
		t.Fatal("a rule on an identity needs no data field")
	}
	b := upsert(map[string]string{"email": "b@x.io", "country": "FR"})
	mustAudiences(t, svc, b, "lytics_all", "lytics_known", "lytics_new", "mail")
	if _, err := svc.Create(ctx, acct, audiences.Audience{Slug: "fr", Kind: audiences.KindRule,
		Rule: json.RawMessage(`{"not":{"field":"country","op":"ne","value":"FR"}}`)}); err != nil {
		t.Fatal(err)
	}
	if need, _ := svc.NeedsFields(ctx, acct); !need {
		t.Fatal("a rule on a data field needs the fields")
	}
	c := upsert(map[string]string{"email": "c@x.io", "country": "FR"})
	mustAudiences(t, svc, c, "fr", "lytics_all", "lytics_known", "lytics_new", "mail")
}

// TestSettleCreationKeysCreatesTheBuiltIns: on an account's first use,
// settling the creation keys creates the built-in definitions, so that the
// definitions version a Bulk reads next stays the same.
func TestSettleCreationKeysCreatesTheBuiltIns(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := context.Background()
	svc := audiences.New(rdb, ns, nil, audiences.Options{})
	acct := "acct-" + redistest.RandomID()
	key := svc.CreationKeys(acct)[0]
	if v := rdb.Get(ctx, key).Val(); v != "" {
		t.Fatalf("definitions version before first use: %q", v)
	}
	if err := svc.SettleCreationKeys(ctx, acct); err != nil {
		t.Fatal(err)
	}
	settled := rdb.Get(ctx, key).Val()
	if settled == "" {
		t.Fatal("no definitions version after SettleCreationKeys")
	}
	if err := svc.SettleCreationKeys(ctx, acct); err != nil || rdb.Get(ctx, key).Val() != settled {
		t.Fatalf("settling again changed the version: %q -> %q (%v)", settled, rdb.Get(ctx, key).Val(), err)
	}
}
