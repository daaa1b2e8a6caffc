package sftpclient

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
)

func TestScanHostKey(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	k, err := ScanHostKey(context.Background(), Config{Host: s.Host, Port: s.Port, HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if AuthorizedKey(k) != s.HostKeyAuthorized {
		t.Fatalf("scanned %s, want %s", AuthorizedKey(k), s.HostKeyAuthorized)
	}

	silent := sshdtest.SilentListener(t)
	host, port, _ := strings.Cut(silent, ":")
	p, _ := strconv.Atoi(port)
	if _, err := ScanHostKey(context.Background(), Config{Host: host, Port: p, HandshakeTimeout: 200 * time.Millisecond}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("silent server: got %v, want ErrTimeout", err)
	}
}
