package config

import (
	"runtime/debug"
	"testing"
)

func TestSetWorkerGCKeepsAnExplicitGOGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	SetWorkerGC(func(string) string { return "50" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the GC percent became %d", got)
	}
	SetWorkerGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != WorkerGCPercent {
		t.Errorf("without GOGC, the GC percent is %d, want %d", got, WorkerGCPercent)
	}
}
