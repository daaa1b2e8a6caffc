package profiles

import (
	"testing"
	"time"
)

func TestToTimestampBrazeExportShape(t *testing.T) {
	t.Parallel()
	got, err := toTimestamp("2026-11-01 10:00:00 UTC")
	if err != nil || !got.Equal(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("Braze export timestamp: %v %v", got, err)
	}
	if _, err := toTimestamp("2026-11-01 10:00:0x UTC"); err == nil {
		t.Fatal("a malformed timestamp of the same length parsed")
	}
}

func BenchmarkToTimestampBrazeExport(b *testing.B) {
	for b.Loop() {
		if _, err := toTimestamp("2026-11-01 10:00:00 UTC"); err != nil {
			b.Fatal(err)
		}
	}
}
