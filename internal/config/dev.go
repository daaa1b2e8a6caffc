package config

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DevMasterKeyFile is the master key `brazesync dev` keeps in DATA_DIR for
// a real Redis when BRAZESYNC_MASTER_KEY is unset.
const DevMasterKeyFile = "dev_master_key"

// DevDefaults fills what `brazesync dev` runs without: a master key when
// BRAZESYNC_MASTER_KEY is unset (random with the embedded Redis, where
// nothing persists; kept in DATA_DIR/dev_master_key for a real Redis, so
// that sealed secrets survive a restart) and an operator token when
// BRAZESYNC_ADMIN_TOKEN is unset (generated; dev prints it).
func (c *Config) DevDefaults(embedded bool) error {
	if len(c.MasterKeys) == 0 {
		k, err := devMasterKey(c.DataDir, embedded)
		if err != nil {
			return err
		}
		c.MasterKeys = [][]byte{k}
	}
	if c.AdminToken == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		c.AdminToken = "bsop_" + base64.RawURLEncoding.EncodeToString(b)
	}
	return nil
}

func devMasterKey(dataDir string, embedded bool) ([]byte, error) {
	if embedded {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k, nil
	}
	path := filepath.Join(dataDir, DevMasterKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err == nil && len(k) == 32 {
			return k, nil
		}
		return nil, fmt.Errorf("%s is not a base64 32-byte key", path)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return k, nil
}
