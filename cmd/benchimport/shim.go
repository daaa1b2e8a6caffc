package main

import (
	"fmt"
	"os"
	"testing"
)

// shimTB lets the program reuse internal/testutil/sshdtest (a real OpenSSH
// sshd as a unique user, gpg keys and files) outside a test binary. Fatal
// calls panic with a fatal value that run recovers; cleanups run in reverse
// order when the program ends. Methods it does not override must not be
// called: the embedded testing.TB is nil.
type shimTB struct {
	testing.TB
	cleanups []func()
}

// fatal is what shimTB's Fatal calls panic with.
type fatal struct{ msg string }

func (t *shimTB) Helper() {}

func (t *shimTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *shimTB) Failed() bool { return false }

func (t *shimTB) Name() string { return "benchimport" }

func (t *shimTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func (t *shimTB) Log(args ...any) { fmt.Fprintln(os.Stderr, args...) }

func (t *shimTB) Errorf(format string, args ...any) { t.Fatalf(format, args...) }

func (t *shimTB) Fatalf(format string, args ...any) { panic(fatal{fmt.Sprintf(format, args...)}) }

func (t *shimTB) Fatal(args ...any) { panic(fatal{fmt.Sprint(args...)}) }

func (t *shimTB) Skipf(format string, args ...any) { t.Fatalf("missing: "+format, args...) }

func (t *shimTB) Skip(args ...any) { t.Fatal(append([]any{"missing: "}, args...)...) }

func (t *shimTB) TempDir() string {
	d, err := os.MkdirTemp("", "benchimport-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// cleanup runs the registered cleanups, last first.
func (t *shimTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
