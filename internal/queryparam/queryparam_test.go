package queryparam_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/queryparam"
)

func TestBool(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{"", false},
		{"other=yes", false},
		{"dryrun=true", true},
		{"dryrun=TRUE", true},
		{"dryrun=1", true},
		{"dryrun=t", true},
		{"dryrun=false", false},
		{"dryrun=0", false},
		{"dryrun=False", false},
		{"dryrun=true&dryrun=1", true},
	} {
		q, _ := url.ParseQuery(tc.query)
		got, err := queryparam.Bool(q, "dryrun")
		if err != nil || got != tc.want {
			t.Errorf("%q: got %v, %v; want %v", tc.query, got, err, tc.want)
		}
	}
}

func TestBoolRefusesWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	for _, query := range []string{"dryrun=yes", "dryrun=no", "dryrun=on", "dryrun", "dryrun=", "dryrun=true&dryrun=false", "dryrun=" + strings.Repeat("x", 100)} {
		q, _ := url.ParseQuery(query)
		_, err := queryparam.Bool(q, "dryrun")
		var ve *fault.ValidationError
		if !errors.As(err, &ve) || ve.Field != "dryrun" {
			t.Errorf("%q: got %v, want a validation error on dryrun", query, err)
			continue
		}
		if len(ve.Message) > 120 {
			t.Errorf("%q: message %q echoes too much", query, ve.Message)
		}
	}
	q, _ := url.ParseQuery("dryrun=yes")
	_, err := queryparam.Bool(q, "dryrun")
	if want := `dryrun: must be true or false (or 1 or 0), not "yes"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
