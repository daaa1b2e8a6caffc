package audiences

import (
	"context"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestAppendSetBitsSetsExactlyTheIDs: the runs that CreatedWrites sends
// set every given bit and leave every other bit as it was, across byte
// boundaries and runs longer than one 63-bit operation.
func TestAppendSetBitsSetsExactlyTheIDs(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := context.Background()
	var long []uint32
	for id := uint32(100); id < 300; id++ {
		long = append(long, id)
	}
	cases := map[string][]uint32{
		"one":         {5},
		"run":         {8, 9, 10, 11, 12, 13, 14, 15, 16},
		"scattered":   {0, 3, 64, 65, 127, 128, 1000},
		"unsorted":    {40, 7, 39, 8, 41},
		"repeated":    {20, 20, 21, 22, 22, 23},
		"long run":    long,
		"run and gap": append(append([]uint32{}, long[:70]...), 171, 173, 175),
	}
	for name, ids := range cases {
		key := ns.Account("bits", name)
		// Other bits already set around them must stay set.
		others := []uint32{1, 2, 6, 17, 19, 24, 99, 300, 301, 999, 1001}
		for _, b := range others {
			if err := rdb.SetBit(ctx, key, int64(b), 1).Err(); err != nil {
				t.Fatal(err)
			}
		}
		cmd := appendSetBits([]any{"BITFIELD", key}, append([]uint32(nil), ids...))
		if ops := (len(cmd) - 2) / 4; name == "long run" && ops != 4 {
			t.Errorf("%s: %d operations for 200 consecutive ids, want 4", name, ops)
		}
		if err := rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[uint32]bool{}
		for _, b := range append(others, ids...) {
			want[b] = true
		}
		for b := uint32(0); b < 1100; b++ {
			got, err := rdb.GetBit(ctx, key, int64(b)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if (got == 1) != want[b] {
				t.Fatalf("%s: bit %d is %d", name, b, got)
			}
		}
	}
}
