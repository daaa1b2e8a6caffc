package sftpd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/ssh"
)

// Sealer encrypts secrets at rest. The integrator passes the secrets box
// (with a purpose); Seal's output must be opened by Open on every replica.
type Sealer interface {
	Seal(plaintext []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

// loadHostKey returns the host key shared by all replicas. The first replica
// to start generates an ed25519 key and stores its sealed seed with SET NX;
// every replica, including one that lost that race, uses the stored key.
func loadHostKey(ctx context.Context, rdb redis.UniversalClient, k keys, sealer Sealer) (ssh.Signer, error) {
	key := k.hostKey()
	sealed, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		sealed, err = createHostKey(ctx, rdb, key, sealer)
	}
	if err != nil {
		return nil, fmt.Errorf("reading sftp host key: %w", err)
	}
	seed, err := sealer.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("opening sftp host key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("opening sftp host key: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	signer, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, fmt.Errorf("loading sftp host key: %w", err)
	}
	return signer, nil
}

// createHostKey stores a new sealed host key unless another replica stored
// one first, and returns the stored one.
func createHostKey(ctx context.Context, rdb redis.UniversalClient, key string, sealer Sealer) (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generating sftp host key: %w", err)
	}
	sealed, err := sealer.Seal(priv.Seed())
	if err != nil {
		return "", fmt.Errorf("sealing sftp host key: %w", err)
	}
	if err := rdb.SetNX(ctx, key, sealed, 0).Err(); err != nil {
		return "", fmt.Errorf("storing sftp host key: %w", err)
	}
	return rdb.Get(ctx, key).Result()
}

// ResealHostKey seals the stored host key again with sealer, so that it
// opens after the key that sealed it is retired. It reports whether there
// was a host key.
func ResealHostKey(ctx context.Context, rdb redis.UniversalClient, ns keyspace.Namespace, sealer Sealer) (bool, error) {
	key := keys{ns: ns}.hostKey()
	sealed, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading sftp host key: %w", err)
	}
	seed, err := sealer.Open(sealed)
	if err != nil {
		return false, fmt.Errorf("opening sftp host key: %w", err)
	}
	again, err := sealer.Seal(seed)
	if err != nil {
		return false, fmt.Errorf("sealing sftp host key: %w", err)
	}
	if err := rdb.Set(ctx, key, again, 0).Err(); err != nil {
		return false, fmt.Errorf("storing sftp host key: %w", err)
	}
	return true, nil
}
