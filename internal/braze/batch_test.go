package braze

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func users(n int, segLen int) []Object {
	objs := make([]Object, n)
	for i := range objs {
		objs[i] = Segments(Identifier{Kind: ExternalID, Value: fmt.Sprint("user-", i)}, "", []string{strings.Repeat("s", segLen)}, []string{"gone"})
	}
	return objs
}

// checkBatches asserts that batches cover objs in order, each within the
// limits, with a body that decodes to its objects.
func checkBatches(t *testing.T, objs []Object, batches []Batch, size, maxBody int) {
	t.Helper()
	next := 0
	for i, b := range batches {
		if b.Offset != next {
			t.Fatalf("batch %d offset %d, want %d", i, b.Offset, next)
		}
		if len(b.Objects) == 0 || len(b.Objects) > size {
			t.Fatalf("batch %d has %d objects (size %d)", i, len(b.Objects), size)
		}
		if len(b.Body) >= maxBody {
			t.Fatalf("batch %d body is %d bytes, not under %d", i, len(b.Body), maxBody)
		}
		var body struct {
			Attributes []map[string]any `json:"attributes"`
		}
		if err := json.Unmarshal(b.Body, &body); err != nil {
			t.Fatalf("batch %d body: %v", i, err)
		}
		if len(body.Attributes) != len(b.Objects) {
			t.Fatalf("batch %d body has %d objects, want %d", i, len(body.Attributes), len(b.Objects))
		}
		for j, a := range body.Attributes {
			if a["external_id"] != objs[next+j].ID.Value {
				t.Fatalf("batch %d object %d is %v, want %s", i, j, a["external_id"], objs[next+j].ID.Value)
			}
		}
		next += len(b.Objects)
	}
	if next != len(objs) {
		t.Fatalf("batches cover %d objects of %d", next, len(objs))
	}
}

func TestBatchesBySize(t *testing.T) {
	t.Parallel()
	objs := users(200, 5)
	batches, err := split(objs, 75, MaxBodyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 3 || len(batches[0].Objects) != 75 || len(batches[2].Objects) != 50 {
		t.Fatalf("got %d batches", len(batches))
	}
	checkBatches(t, objs, batches, 75, MaxBodyBytes)

	batches, _ = split(objs, 50, MaxBodyBytes)
	if len(batches) != 4 {
		t.Fatalf("batch size 50: %d batches, want 4", len(batches))
	}
	checkBatches(t, objs, batches, 50, MaxBodyBytes)
}

func TestBatchesByBytes(t *testing.T) {
	t.Parallel()
	// Objects of ≈100 kB: at most 39 fit under 4 MB.
	objs := users(100, 100_000)
	batches, err := split(objs, 75, MaxBodyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) < 3 {
		t.Fatalf("%d batches of 100 kB objects; the body limit was ignored", len(batches))
	}
	checkBatches(t, objs, batches, 75, MaxBodyBytes)
	// Exactly at the edge: every size around a small limit.
	small := users(30, 3)
	for limit := 120; limit < 400; limit += 7 {
		batches, err := split(small, 75, limit)
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		checkBatches(t, small, batches, 75, limit)
	}
}

func TestBatchesRejectsOversizeAndInvalidObjects(t *testing.T) {
	t.Parallel()
	objs := users(3, 10)
	objs[1] = Segments(Identifier{Kind: ExternalID, Value: "big"}, "", []string{strings.Repeat("x", 500)}, nil)
	if _, err := split(objs, 75, 400); err == nil || !strings.Contains(err.Error(), "object 1") {
		t.Fatalf("oversize object: err = %v", err)
	}
	objs[1] = Object{ID: Identifier{Kind: ExternalID}}
	if _, err := split(objs, 75, MaxBodyBytes); err == nil || !strings.Contains(err.Error(), "object 1") {
		t.Fatalf("invalid object: err = %v", err)
	}
	if b, err := split(nil, 75, MaxBodyBytes); err != nil || len(b) != 0 {
		t.Fatalf("no objects: %v %v", b, err)
	}
}

func BenchmarkBatches(b *testing.B) {
	objs := users(7500, 12)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := split(objs, 75, MaxBodyBytes); err != nil {
			b.Fatal(err)
		}
	}
}
