package notify_test

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/notify"
)

func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"id":"e1","type":"run_completed"}`)
	sig := notify.Sign("whsec_abc", ts, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q: want sha256=<64 hex digits>", sig)
	}
	if err := notify.Verify("whsec_abc", ts, body, sig, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	cases := []struct {
		name            string
		secret, ts, sig string
		body            []byte
		now             time.Time
		want            error
	}{
		{"another body", "whsec_abc", ts, sig, []byte(`{"id":"e2","type":"run_completed"}`), now, notify.ErrBadSignature},
		{"another secret", "whsec_abd", ts, sig, body, now, notify.ErrBadSignature},
		{"another timestamp", "whsec_abc", strconv.FormatInt(now.Unix()+1, 10), sig, body, now, notify.ErrBadSignature},
		{"no prefix", "whsec_abc", ts, strings.TrimPrefix(sig, "sha256="), body, now, notify.ErrBadSignature},
		{"a replay", "whsec_abc", ts, sig, body, now.Add(6 * time.Minute), notify.ErrStale},
		{"from the future", "whsec_abc", ts, sig, body, now.Add(-6 * time.Minute), notify.ErrStale},
		{"no timestamp", "whsec_abc", "", sig, body, now, notify.ErrStale},
	}
	for _, c := range cases {
		if err := notify.Verify(c.secret, c.ts, c.body, c.sig, c.now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

// TestOpenSSLComputesTheSameSignature holds the shell check of
// docs/notifications.md: openssl over timestamp.body with the secret as
// key gives the header's hex.
func TestOpenSSLComputesTheSameSignature(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	body := []byte(`{"id":"e1","type":"run_failed","error":{"message":"x"}}`)
	ts := "1767225600"
	cmd := exec.Command("sh", "-c", `printf '%s.%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.* //'`)
	cmd.Env = []string{"TS=" + ts, "BODY=" + string(body), "SECRET=whsec_0123", "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := "sha256="+strings.TrimSpace(string(out)), notify.Sign("whsec_0123", ts, body); got != want {
		t.Fatalf("openssl: %s, Sign: %s", got, want)
	}
}
