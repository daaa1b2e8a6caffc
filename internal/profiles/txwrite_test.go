package profiles

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestTransactionMatchesScript applies the same batches, full of identity
// collisions, merges and ties, once through the optimistic transaction and
// once through the upsert script (the fallback under contention), and
// expects the same profiles, identity index and counts.
func TestTransactionMatchesScript(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	s := New(rdb, ns, nil, Options{})
	ctx := context.Background()
	m, err := s.compiledMapping(ctx, "any", "web")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prep := func(ev time.Time, f map[string]any) prepared {
		p, err := m.prepare(Record{Fields: f, EventTime: ev}, base, true)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A merge whose two profiles hold one field at the same event time: the
	// survivor's value stays.
	batches := [][]prepared{{
		prep(base.Add(time.Hour), map[string]any{"email": "tie@x.io", "city": "Oslo"}),
		prep(base.Add(time.Hour), map[string]any{"external_id": "tie", "city": "Rome"}),
		prep(base, map[string]any{"email": "tie@x.io", "external_id": "tie"}),
	}}
	for b := range 12 {
		var batch []prepared
		for r := range 40 {
			f := map[string]any{"n": float64(b*100 + r), "city": fmt.Sprintf("c%d", rng.IntN(50)), "z": fmt.Sprintf("z%d", rng.IntN(50))}
			if rng.IntN(3) > 0 {
				f["email"] = fmt.Sprintf("u%d@x.io", rng.IntN(60))
			}
			if rng.IntN(3) == 0 || f["email"] == nil {
				f["external_id"] = fmt.Sprintf("e%d", rng.IntN(60))
			}
			if rng.IntN(4) == 0 {
				f["braze_id"] = fmt.Sprintf("b%d", rng.IntN(40))
			}
			batch = append(batch, prep(base.Add(time.Duration(rng.IntN(2))*time.Minute), f))
		}
		batches = append(batches, batch)
	}
	txAcct, scriptAcct := "tx-"+redistest.RandomID(), "script-"+redistest.RandomID()
	for _, b := range batches {
		if _, err := s.writeBatchTx(ctx, txAcct, b); err != nil {
			t.Fatalf("writeBatchTx: %v", err)
		}
		if _, err := s.applyBatchScript(ctx, scriptAcct, b); err != nil {
			t.Fatalf("applyBatchScript: %v", err)
		}
	}
	snapshot := func(acct string) (map[string]Profile, map[string]string, int64) {
		ps, next, err := s.Scan(ctx, acct, "", 100000)
		if err != nil || next != "" {
			t.Fatalf("Scan: %v %q", err, next)
		}
		byID := map[string]Profile{}
		for _, p := range ps {
			byID[p.ID] = p
		}
		idx, err := rdb.HGetAll(ctx, s.keys.ids(acct)).Result()
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.Count(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		return byID, idx, n
	}
	txP, txIdx, txN := snapshot(txAcct)
	scP, scIdx, scN := snapshot(scriptAcct)
	if txN != scN || txN == 0 {
		t.Errorf("Count: transaction %d, script %d", txN, scN)
	}
	if p := txP["1"]; p.Fields["city"] != "Oslo" {
		t.Errorf("city after a tie = %v, want the survivor's Oslo", p.Fields["city"])
	}
	if txN >= 60 {
		t.Errorf("Count = %d: the batches should have merged profiles", txN)
	}
	if !reflect.DeepEqual(txIdx, scIdx) {
		t.Errorf("identity index differs:\ntx     %v\nscript %v", txIdx, scIdx)
	}
	if !reflect.DeepEqual(txP, scP) {
		for id, p := range txP {
			if !reflect.DeepEqual(p, scP[id]) {
				t.Errorf("profile %s differs:\ntx     %+v\nscript %+v", id, p, scP[id])
			}
		}
		t.Errorf("profiles differ (%d vs %d)", len(txP), len(scP))
	}
}
