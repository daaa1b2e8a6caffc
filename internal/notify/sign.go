// Package notify delivers the events of jobs (run_completed, run_failed,
// health_changed) to the URL of each job's notify settings: it checks the
// settings at the edge (Checker), makes and seals the signing secret
// (NewSecret), turns the job store's events into delivery tasks (Sink) and
// POSTs them, signed, through the egress policy (Deliverer).
//
// A delivery's body is JSON; it is signed with HMAC-SHA256 under the job's
// secret over the timestamp, a dot and the body, so that a receiver can
// check both and refuse a replay:
//
//	X-Brazesync-Timestamp: 1767225600
//	X-Brazesync-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>
package notify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/secrets"
)

// Headers of a delivery.
const (
	HeaderSignature = "X-Brazesync-Signature"
	HeaderTimestamp = "X-Brazesync-Timestamp"
	HeaderEvent     = "X-Brazesync-Event"
	HeaderDelivery  = "X-Brazesync-Delivery"
)

// signaturePrefix starts the signature header's value.
const signaturePrefix = "sha256="

// Sign returns the signature header's value of body sent at timestamp (a
// decimal Unix time in seconds) under secret.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("notify: signature does not match")
	ErrStale        = errors.New("notify: timestamp is too far from now")
)

// Verify checks a delivery as a receiver does: signature is the signature
// header, timestamp the timestamp header; a timestamp further than
// tolerance from now is refused (a replay).
func Verify(secret, timestamp string, body []byte, signature string, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a Unix time", ErrStale, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s", ErrStale, d.Round(time.Second))
	}
	if !strings.HasPrefix(signature, signaturePrefix) || !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return ErrBadSignature
	}
	return nil
}

// secretPurpose binds a sealed secret to its job.
func secretPurpose(account, jobID string) string {
	return account + "/job/" + jobID + "/notify_secret"
}

// NewSecret returns a new signing secret for a job, plain (shown once) and
// sealed (stored).
func NewSecret(box *secrets.Box, account, jobID string) (plain, sealed string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("notify: making a secret: %w", err)
	}
	plain = "whsec_" + hex.EncodeToString(b)
	sealed, err = box.Seal(secretPurpose(account, jobID), []byte(plain))
	if err != nil {
		return "", "", fmt.Errorf("notify: sealing the secret of job %s: %w", jobID, err)
	}
	return plain, sealed, nil
}

// OpenSecret opens a job's sealed secret.
func OpenSecret(box *secrets.Box, account, jobID, sealed string) (string, error) {
	b, err := box.Open(secretPurpose(account, jobID), sealed)
	if err != nil {
		return "", fmt.Errorf("opening the notify secret of job %s: %w", jobID, err)
	}
	return string(b), nil
}

// Reseal seals the notify secrets of an account's jobs again with the
// box's sealing key (after a master key rotation), and returns how many
// it sealed again.
func Reseal(ctx context.Context, js *jobs.Store, box *secrets.Box, account string) (int, error) {
	return js.ReplaceNotifySecrets(ctx, account, func(jobID, sealed string) (string, bool, error) {
		if !box.NeedsResealing(sealed) {
			return sealed, false, nil
		}
		plain, err := OpenSecret(box, account, jobID, sealed)
		if err != nil {
			return "", false, err
		}
		next, err := box.Seal(secretPurpose(account, jobID), []byte(plain))
		if err != nil {
			return "", false, fmt.Errorf("sealing the notify secret of job %s again: %w", jobID, err)
		}
		return next, true, nil
	})
}
