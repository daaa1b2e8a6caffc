package config

import (
	"errors"
	"testing"
)

func TestLoadCtl(t *testing.T) {
	t.Parallel()
	c, err := LoadCtl(env(map[string]string{"BRAZESYNC_TOKEN": "t0k", "BRAZESYNC_ACCOUNT": "acme"}))
	if err != nil || c.URL != CtlURLDefault || c.Token != "t0k" || c.Account != "acme" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = LoadCtl(env(map[string]string{"BRAZESYNC_URL": "https://sync.example.com/base/", "BRAZESYNC_TOKEN": "t"}))
	if err != nil || c.URL != "https://sync.example.com/base" {
		t.Fatalf("URL: %+v %v", c, err)
	}
	for _, bad := range []struct {
		vars  map[string]string
		field string
	}{
		{map[string]string{}, "BRAZESYNC_TOKEN"},
		{map[string]string{"BRAZESYNC_URL": "127.0.0.1:8080", "BRAZESYNC_TOKEN": "t"}, "BRAZESYNC_URL"},
		{map[string]string{"BRAZESYNC_URL": "http://x/api/v1", "BRAZESYNC_TOKEN": "t"}, "BRAZESYNC_URL"},
		{map[string]string{"BRAZESYNC_URL": "http://x/?a=1", "BRAZESYNC_TOKEN": "t"}, "BRAZESYNC_URL"},
	} {
		_, err := LoadCtl(env(bad.vars))
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != bad.field {
			t.Errorf("%v: err = %v, want a config error naming %s", bad.vars, err, bad.field)
		}
	}
}
