package secrets

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func mk(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSealOpen(t *testing.T) {
	t.Parallel()
	box, err := NewBox(mk(1))
	if err != nil {
		t.Fatal(err)
	}
	s, err := box.Seal("a/1/api_key", []byte("super-secret-key"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "super-secret") {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := box.Open("a/1/api_key", s)
	if err != nil || string(got) != "super-secret-key" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := box.Open("a/2/api_key", s); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved value opened: %v", err)
	}
	// One character of the middle changed (every bit of it counts, unlike
	// the last one's, and the replacement always differs).
	body := strings.LastIndexByte(s, '.') + 1
	mid := body + (len(s)-body)/2
	repl := byte('A')
	if s[mid] == 'A' {
		repl = 'B'
	}
	tampered := s[:mid] + string(repl) + s[mid+1:]
	if _, err := box.Open("a/1/api_key", tampered); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered value opened: %v", err)
	}
	s2, _ := box.Seal("a/1/api_key", []byte("super-secret-key"))
	if s2 == s {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old, _ := NewBox(mk(1))
	sealed, _ := old.Seal("p", []byte("v"))
	rotated, _ := NewBox(mk(2), mk(1))
	got, err := rotated.Open("p", sealed)
	if err != nil || string(got) != "v" {
		t.Fatalf("old key does not open after rotation: %v", err)
	}
	if !rotated.NeedsResealing(sealed) {
		t.Fatal("value sealed by old key should need resealing")
	}
	fresh, _ := rotated.Seal("p", []byte("v"))
	if rotated.NeedsResealing(fresh) || !strings.Contains(fresh, rotated.SealingKeyID()) {
		t.Fatal("new values must be sealed by the first key")
	}
	onlyNew, _ := NewBox(mk(2))
	if _, err := onlyNew.Open("p", sealed); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("want ErrUnknownKey, got %v", err)
	}
}
