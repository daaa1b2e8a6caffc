package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/notify"
	"github.com/brazesync/brazesync/internal/sftpd"
	"github.com/brazesync/brazesync/internal/testutil/redistest"
)

// TestAdminResealRetiresTheOldKey rotates the master key the way the README
// says: a new first key, `admin reseal`, then the old key dropped; every
// authorization and the managed SFTP host key still open.
func TestAdminResealRetiresTheOldKey(t *testing.T) {
	t.Parallel()
	_, url := redistest.DB(t)
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))
	env := func(keys string) func(string) string {
		return func(name string) string {
			return map[string]string{"REDIS_URL": url, "BRAZESYNC_MASTER_KEY": keys}[name]
		}
	}
	ctx := context.Background()
	openApp := func(keys string) *app {
		t.Helper()
		cfg, err := load(env(keys), config.Production)
		if err != nil {
			t.Fatal(err)
		}
		a, err := newApp(ctx, cfg, newLogger(cfg.LogLevel))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.close)
		return a
	}
	var out bytes.Buffer
	if err := runAdmin(env(masterKey), &out, "create-account", "acme"); err != nil {
		t.Fatal(err)
	}
	old := openApp(masterKey)
	label := "braze"
	au, _, err := old.auths.Create(ctx, "acme", authorizations.Input{Type: "braze", Label: &label,
		Config: map[string]any{"instance": "US-01"}, Secrets: map[string]string{"api_key": "braze-key-1"}})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := sftpd.HostKeyFingerprint(ctx, old.rdb, old.ns, sftpd.HostKeySealer(old.box))
	if err != nil {
		t.Fatal(err)
	}
	jobID := jobs.NewJobID()
	plain, sealed, err := notify.NewSecret(old.box, "acme", jobID)
	if err != nil {
		t.Fatal(err)
	}
	jobLabel := "notified"
	if _, err := old.jobs.Create(ctx, "acme", jobs.Input{ID: jobID, Type: "braze_export_audience", Label: &jobLabel, AuthorizationID: &au.ID,
		Config: map[string]any{"audiences": []any{"lytics_all"}, "identifier_field": "external_id"},
		Notify: &jobs.Notify{URL: "https://hooks.example.com/x", Events: []string{jobs.EventRunFailed}, SealedSecret: sealed}}); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	if err := runAdmin(env(newKey+","+masterKey), &out, "reseal"); err != nil {
		t.Fatalf("reseal: %v", err)
	}
	if !strings.Contains(out.String(), "authorizations resealed: 1") || !strings.Contains(out.String(), "host key resealed") ||
		!strings.Contains(out.String(), "job notify secrets resealed: 1") {
		t.Errorf("reseal printed %q", out.String())
	}

	retired := openApp(newKey)
	_, sec, err := retired.auths.Credentials(ctx, "acme", au.ID)
	if err != nil || sec["api_key"] != "braze-key-1" {
		t.Fatalf("secrets with the old key retired: %v, %v", sec, err)
	}
	j, err := retired.jobs.Get(ctx, "acme", jobID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := notify.OpenSecret(retired.box, "acme", jobID, j.Notify.SealedSecret); err != nil || got != plain || j.Version != 1 {
		t.Fatalf("notify secret with the old key retired: %v (version %d)", err, j.Version)
	}
	got, err := sftpd.HostKeyFingerprint(ctx, retired.rdb, retired.ns, sftpd.HostKeySealer(retired.box))
	if err != nil || got != fp {
		t.Fatalf("host key with the old key retired: %q, %v; want %q", got, err, fp)
	}
}

// runAdmin runs `brazesync admin ARGS` in this process, as the binary
// does, and returns an error unless it exits with status 0.
func runAdmin(getenv func(string) string, stdout *bytes.Buffer, args ...string) error {
	var stderr bytes.Buffer
	if code := run(append([]string{"admin"}, args...), getenv, stdout, &stderr); code != 0 {
		return fmt.Errorf("exit status %d: %s", code, stderr.String())
	}
	return nil
}

func TestAdminMigrateProfiles(t *testing.T) {
	t.Parallel()
	_, url := redistest.DB(t)
	env := func(name string) string {
		return map[string]string{"REDIS_URL": url, "BRAZESYNC_MASTER_KEY": masterKey}[name]
	}
	var out bytes.Buffer
	if err := runAdmin(env, &out, "create-account", "acme"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runAdmin(env, &out, "migrate-profiles"); err != nil {
		t.Fatalf("migrate-profiles: %v", err)
	}
	if !strings.Contains(out.String(), "profiles rewritten: 0 (in 1 accounts)") {
		t.Errorf("migrate-profiles printed %q", out.String())
	}
	out.Reset()
	if err := runAdmin(env, &out, "migrate-audiences"); err != nil {
		t.Fatalf("migrate-audiences: %v", err)
	}
	if !strings.Contains(out.String(), "audience memberships moved: 0 (in 1 accounts)") {
		t.Errorf("migrate-audiences printed %q", out.String())
	}
	out.Reset()
	if err := runAdmin(env, &out, "migrate-index"); err != nil {
		t.Fatalf("migrate-index: %v", err)
	}
	if !strings.Contains(out.String(), "identity index entries moved: 0 (in 1 accounts)") {
		t.Errorf("migrate-index printed %q", out.String())
	}
}
