package notify_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/notify"
)

func TestCheckerRefusesWhatDeliveriesMustNotUse(t *testing.T) {
	t.Parallel()
	strict := notify.Checker{}
	all := []string{"run_completed"}
	bad := []struct {
		url    string
		events []string
		field  string
	}{
		{"", all, "notify.url"},
		{"hooks.example.com/x", all, "notify.url"},
		{"http://hooks.example.com/x", all, "notify.url"},
		{"ftp://hooks.example.com/x", all, "notify.url"},
		{"https://user:pw@hooks.example.com/x", all, "notify.url"},
		{"https://hooks.example.com/x#frag", all, "notify.url"},
		{"https://hooks.example.com/" + strings.Repeat("a", 2100), all, "notify.url"},
		{"https://hooks.example.com/x", nil, "notify.events"},
		{"https://hooks.example.com/x", []string{"run_started"}, "notify.events"},
	}
	for _, c := range bad {
		_, err := strict.Check(c.url, c.events)
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%q %v: want a validation error on %s, got %v", c.url, c.events, c.field, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%q: the error echoes the password: %v", c.url, err)
		}
	}
	for _, u := range []string{"https://127.0.0.1/x", "https://[::1]:8443/x", "https://localhost/x", "https://169.254.169.254/latest", "https://10.1.2.3/x"} {
		if _, err := strict.Check(u, all); !errors.Is(err, egress.ErrForbidden) {
			t.Errorf("%s: want destination_forbidden, got %v", u, err)
		}
	}
	n, err := strict.Check(" https://hooks.example.com/brazesync?team=data ", []string{"health_changed", "run_completed", "run_completed"})
	if err != nil || n.URL != "https://hooks.example.com/brazesync?team=data" || strings.Join(n.Events, ",") != "run_completed,health_changed" {
		t.Fatalf("a good URL: %+v %v", n, err)
	}
	dev := notify.Checker{AllowInsecure: true, Egress: egress.New(netip.MustParsePrefix("127.0.0.0/8"))}
	if _, err := dev.Check("http://127.0.0.1:9000/hook", all); err != nil {
		t.Fatalf("plain http to an allowed loopback with insecure endpoints allowed: %v", err)
	}
	// Each says what its server allows.
	if _, err := strict.Check("ftp://hooks.example.com/x", all); err == nil || !strings.HasSuffix(err.Error(), "scheme must be https") {
		t.Errorf("ftp, https only: %v", err)
	}
	if _, err := dev.Check("ftp://127.0.0.1/x", all); err == nil || !strings.Contains(err.Error(), "scheme must be https or http") {
		t.Errorf("ftp, plain http allowed: %v, want it to say http is allowed too", err)
	}
}
