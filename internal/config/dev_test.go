package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevDefaults: dev generates an operator token and a master key; with
// a real Redis the key is kept in DATA_DIR and read back by the next
// start; given values are kept.
func TestDevDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := &Config{DataDir: dir}
	if err := c.DevDefaults(false); err != nil {
		t.Fatal(err)
	}
	if len(c.MasterKeys) != 1 || len(c.MasterKeys[0]) != 32 || !strings.HasPrefix(c.AdminToken, "bsop_") || len(c.AdminToken) < 16 {
		t.Fatalf("defaults %d keys, token %q", len(c.MasterKeys), c.AdminToken)
	}
	again := &Config{DataDir: dir}
	if err := again.DevDefaults(false); err != nil || !bytes.Equal(again.MasterKeys[0], c.MasterKeys[0]) || again.AdminToken == c.AdminToken {
		t.Fatalf("second start: key kept %v, token %q (err %v)", err == nil && bytes.Equal(again.MasterKeys[0], c.MasterKeys[0]), again.AdminToken, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, DevMasterKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	embedded := &Config{DataDir: t.TempDir(), AdminToken: "given-token-0123456789"}
	if err := embedded.DevDefaults(true); err != nil || embedded.AdminToken != "given-token-0123456789" || len(embedded.MasterKeys) != 1 {
		t.Fatalf("embedded: %+v %v", embedded, err)
	}
	if _, err := os.Stat(filepath.Join(embedded.DataDir, DevMasterKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("the embedded Redis's key was written to disk: %v", err)
	}
	bad := &Config{DataDir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(bad.DataDir, DevMasterKeyFile), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := bad.DevDefaults(false); err == nil {
		t.Fatal("a damaged key file was accepted")
	}
}
