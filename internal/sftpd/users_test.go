package sftpd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"golang.org/x/crypto/ssh"
)

func newStore(t *testing.T) *UserStore {
	t.Helper()
	rdb, ns := redistest.Client(t)
	s, err := NewUserStore(rdb, ns, 4)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func authorizedKey(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " someone@laptop", sshPub
}

// TestCreateUser: usernames are unique and derived from the account; the
// password works and is stored only as a bcrypt hash.
func TestCreateUser(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			name, pw, err := s.CreateUser(ctx, "Acct_1234.eu", "auth-1")
			if err != nil {
				t.Error(err)
				return
			}
			if len(pw) < 20 {
				t.Errorf("password %d characters", len(pw))
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[name] {
				t.Errorf("username %s handed out twice", name)
			}
			seen[name] = true
		})
	}
	wg.Wait()

	name, pw, err := s.CreateUser(ctx, "Acct_1234.eu", "auth-2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "acct-1234-eu-") || !usernamePattern.MatchString(name) {
		t.Errorf("username %q not derived from the account", name)
	}
	u, err := s.LookupUser(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if u.Account != "Acct_1234.eu" || u.AuthID != "auth-2" || !u.HasPassword || u.CreatedAt.IsZero() {
		t.Errorf("LookupUser = %+v", u)
	}
	if !s.checkPassword(u, []byte(pw)) || s.checkPassword(u, []byte(pw+"x")) {
		t.Error("password check wrong")
	}
	rec, _ := s.rdb.HGetAll(ctx, s.keys.user(u.Account, name)).Result()
	for field, v := range rec {
		if strings.Contains(v, pw) {
			t.Errorf("field %s holds the plain password", field)
		}
	}
	if !strings.HasPrefix(rec[fieldPassword], "$2") {
		t.Errorf("password not a bcrypt hash: %q", rec[fieldPassword])
	}
	names, err := s.ListUsers(ctx, "Acct_1234.eu")
	if err != nil || len(names) != 21 {
		t.Errorf("ListUsers = %d names, %v; want 21", len(names), err)
	}
	for _, bad := range []string{"", "../x", "a/b", "..", "acct..1"} {
		if _, _, err := s.CreateUser(ctx, bad, "a"); !errors.Is(err, ErrBadAccount) {
			t.Errorf("CreateUser(%q) = %v, want ErrBadAccount", bad, err)
		}
	}
}

// TestPasswords: SetPassword and ResetPassword replace the password.
func TestPasswords(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	name, old, _ := s.CreateUser(ctx, "acct-pw", "a")
	if err := s.SetPassword(ctx, "acct-pw", name, "short"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("short password: %v", err)
	}
	if err := s.SetPassword(ctx, "acct-pw", name, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	u, _ := s.LookupUser(ctx, name)
	if s.checkPassword(u, []byte(old)) || !s.checkPassword(u, []byte("a long enough password")) {
		t.Error("SetPassword did not replace the password")
	}
	fresh, err := s.ResetPassword(ctx, "acct-pw", name)
	if err != nil {
		t.Fatal(err)
	}
	u, _ = s.LookupUser(ctx, name)
	if !s.checkPassword(u, []byte(fresh)) || s.checkPassword(u, []byte("a long enough password")) {
		t.Error("ResetPassword did not replace the password")
	}
	if err := s.SetPassword(ctx, "other-acct", name, "a long enough password"); !errors.Is(err, ErrNoUser) {
		t.Errorf("SetPassword from another account: %v, want ErrNoUser", err)
	}
}

// TestPublicKeys: keys are added, listed, matched and removed, and another
// account cannot touch them.
func TestPublicKeys(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	name, _, _ := s.CreateUser(ctx, "acct-keys", "a")
	line, pub := authorizedKey(t)
	fp, err := s.AddPublicKey(ctx, "acct-keys", name, line)
	if err != nil || fp != ssh.FingerprintSHA256(pub) {
		t.Fatalf("AddPublicKey = %q, %v", fp, err)
	}
	if _, err := s.AddPublicKey(ctx, "acct-keys", name, "ssh-ed25519 notbase64"); !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("bad key: %v", err)
	}
	if _, err := s.AddPublicKey(ctx, "acct-other", name, line); !errors.Is(err, ErrNoUser) {
		t.Errorf("AddPublicKey from another account: %v", err)
	}
	keys, err := s.ListPublicKeys(ctx, "acct-keys", name)
	if err != nil || len(keys) != 1 || keys[0].Fingerprint != fp || strings.Contains(keys[0].AuthorizedKey, "laptop") {
		t.Fatalf("ListPublicKeys = %+v, %v", keys, err)
	}
	u, _ := s.LookupUser(ctx, name)
	if ok, err := s.hasPublicKey(ctx, u, pub); !ok || err != nil {
		t.Errorf("hasPublicKey = %v, %v", ok, err)
	}
	_, otherPub := authorizedKey(t)
	if ok, _ := s.hasPublicKey(ctx, u, otherPub); ok {
		t.Error("an unknown key matched")
	}
	if ok, err := s.RemovePublicKey(ctx, "acct-other", name, fp); ok || !errors.Is(err, ErrNoUser) {
		t.Errorf("RemovePublicKey from another account = %v, %v", ok, err)
	}
	if ok, err := s.RemovePublicKey(ctx, "acct-keys", name, fp); !ok || err != nil {
		t.Errorf("RemovePublicKey = %v, %v", ok, err)
	}
	if ok, _ := s.hasPublicKey(ctx, u, pub); ok {
		t.Error("removed key still matches")
	}
}

// TestDeleteUser: a deleted user is gone everywhere; only its own account
// can delete it.
func TestDeleteUser(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	name, _, _ := s.CreateUser(ctx, "acct-del", "a")
	line, _ := authorizedKey(t)
	_, _ = s.AddPublicKey(ctx, "acct-del", name, line)
	if err := s.DeleteUser(ctx, "acct-evil", name); !errors.Is(err, ErrNoUser) {
		t.Errorf("DeleteUser from another account: %v", err)
	}
	if err := s.DeleteUser(ctx, "acct-del", name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupUser(ctx, name); !errors.Is(err, ErrNoUser) {
		t.Errorf("LookupUser after delete: %v", err)
	}
	for _, k := range []string{s.keys.userIndex(name), s.keys.user("acct-del", name), s.keys.userKeys("acct-del", name)} {
		if n, _ := s.rdb.Exists(context.Background(), k).Result(); n != 0 {
			t.Errorf("key %s left after delete", k)
		}
	}
	if names, _ := s.ListUsers(ctx, "acct-del"); len(names) != 0 {
		t.Errorf("ListUsers after delete = %v", names)
	}
	if _, err := s.LookupUser(ctx, "../../etc"); !errors.Is(err, ErrNoUser) {
		t.Errorf("LookupUser with a path: %v", err)
	}
}
