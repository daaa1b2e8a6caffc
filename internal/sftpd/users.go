package sftpd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/keyspace"
	"github.com/brazesync/brazesync/internal/redislock"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
)

// Errors of the user store that callers branch on.
var (
	// ErrNoUser: the username is unknown, or does not belong to the account.
	ErrNoUser = errors.New("sftpd: no such user")
	// ErrBadAccount: the account id cannot name a user directory.
	ErrBadAccount = errors.New("sftpd: invalid account id")
	// ErrBadPublicKey: the public key is not an authorized_keys line.
	ErrBadPublicKey = errors.New("sftpd: invalid public key")
	// ErrBadPassword: the password is too short or too long for bcrypt.
	ErrBadPassword = errors.New("sftpd: invalid password")
)

const (
	passwordLength    = 24
	minPasswordLength = 12
	maxPasswordLength = 72 // bcrypt's limit
	usernameSuffixLen = 6
	maxUsernamePrefix = 24
)

// usernamePattern is what every generated username matches; a login with any
// other name is refused before Redis is asked.
var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,40}$`)

// accountPattern is what an account id must match to name a directory.
var accountPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func validAccount(acct string) bool {
	return accountPattern.MatchString(acct) && !strings.Contains(acct, "..")
}

// User is a managed SFTP user. The password hash never leaves the package.
type User struct {
	Username    string
	Account     string
	AuthID      string // the sftp_managed authorization that created the user
	CreatedAt   time.Time
	HasPassword bool

	passwordHash []byte
}

// PublicKey is one public key a user may log in with.
type PublicKey struct {
	// Fingerprint is the key's SHA256 fingerprint ("SHA256:...").
	Fingerprint string
	// AuthorizedKey is the key in authorized_keys format, without comment.
	AuthorizedKey string
}

// UserStore keeps the managed SFTP users in Redis.
type UserStore struct {
	rdb        redis.UniversalClient
	keys       keys
	bcryptCost int
	dummyHash  []byte // compared against for unknown users, to keep timing even
}

// NewUserStore returns a store for the users under namespace ns. bcryptCost
// is the cost of new password hashes (0 means BcryptCostDefault).
func NewUserStore(rdb redis.UniversalClient, ns keyspace.Namespace, bcryptCost int) (*UserStore, error) {
	if bcryptCost == 0 {
		bcryptCost = BcryptCostDefault
	}
	if bcryptCost < bcrypt.MinCost || bcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("sftpd: bcrypt cost %d out of range [%d, %d]", bcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(randomString(passwordLength)), bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("sftpd: preparing dummy hash: %w", err)
	}
	return &UserStore{rdb: rdb, keys: keys{ns}, bcryptCost: bcryptCost, dummyHash: dummy}, nil
}

const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

// randomString returns n characters drawn uniformly from alphabet.
func randomString(n int) string {
	return randomFrom(alphabet, n)
}

func randomFrom(chars string, n int) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	limit := 256 - 256%len(chars)
	for i := 0; i < n; {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails
		if int(buf[0]) >= limit {
			continue
		}
		out[i] = chars[int(buf[0])%len(chars)]
		i++
	}
	return string(out)
}

// usernamePrefix turns an account id into the readable part of a username.
func usernamePrefix(acct string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(acct) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == '.':
			b.WriteByte('-')
		}
		if b.Len() >= maxUsernamePrefix {
			break
		}
	}
	p := strings.Trim(b.String(), "-")
	if p == "" {
		p = "user"
	}
	return p
}

// CreateUser provisions a user for the sftp_managed authorization authID of
// account acct. It returns the new, unique username (derived from the
// account) and a generated password, which is stored only as a bcrypt hash
// and cannot be read back.
func (s *UserStore) CreateUser(ctx context.Context, acct, authID string) (username, password string, err error) {
	if !validAccount(acct) {
		return "", "", fmt.Errorf("creating sftp user for account %q: %w", acct, ErrBadAccount)
	}
	password = randomFrom(alphabet, passwordLength)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return "", "", fmt.Errorf("hashing password: %w", err)
	}
	prefix := usernamePrefix(acct)
	for range 10 {
		username = prefix + "-" + randomFrom("abcdefghijkmnpqrstuvwxyz23456789", usernameSuffixLen)
		ok, err := s.rdb.SetNX(ctx, s.keys.userIndex(username), acct, 0).Result()
		if err != nil {
			return "", "", fmt.Errorf("claiming sftp username %q: %w", username, err)
		}
		if ok {
			break
		}
		username = ""
	}
	if username == "" {
		return "", "", fmt.Errorf("creating sftp user for account %q: no free username after 10 tries", acct)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.keys.user(acct, username),
			fieldAuthID, authID,
			fieldPassword, string(hash),
			fieldCreatedAt, strconv.FormatInt(time.Now().Unix(), 10))
		p.SAdd(ctx, s.keys.accountUsers(acct), username)
		return nil
	})
	if err != nil {
		err = fmt.Errorf("storing sftp user %q: %w", username, err)
		if _, rerr := redislock.Release(context.WithoutCancel(ctx), s.rdb, s.keys.userIndex(username), acct); rerr != nil {
			err = errors.Join(err, fmt.Errorf("giving the username back: %w", rerr))
		}
		return "", "", err
	}
	return username, password, nil
}

// LookupUser returns the user named username, or ErrNoUser.
func (s *UserStore) LookupUser(ctx context.Context, username string) (User, error) {
	if !usernamePattern.MatchString(username) {
		return User{}, ErrNoUser
	}
	acct, err := s.rdb.Get(ctx, s.keys.userIndex(username)).Result()
	if errors.Is(err, redis.Nil) {
		return User{}, ErrNoUser
	}
	if err != nil {
		return User{}, fmt.Errorf("looking up sftp user %q: %w", username, err)
	}
	return s.load(ctx, acct, username)
}

func (s *UserStore) load(ctx context.Context, acct, username string) (User, error) {
	if !usernamePattern.MatchString(username) || !validAccount(acct) {
		return User{}, ErrNoUser
	}
	rec, err := s.rdb.HGetAll(ctx, s.keys.user(acct, username)).Result()
	if err != nil {
		return User{}, fmt.Errorf("reading sftp user %q: %w", username, err)
	}
	if len(rec) == 0 {
		return User{}, ErrNoUser
	}
	created, _ := strconv.ParseInt(rec[fieldCreatedAt], 10, 64)
	u := User{
		Username:     username,
		Account:      acct,
		AuthID:       rec[fieldAuthID],
		CreatedAt:    time.Unix(created, 0).UTC(),
		passwordHash: []byte(rec[fieldPassword]),
	}
	u.HasPassword = len(u.passwordHash) > 0
	return u, nil
}

// checkPassword reports whether password is the user's. It takes as long
// for a user without a password (u.passwordHash empty) as for one with.
func (s *UserStore) checkPassword(u User, password []byte) bool {
	if len(u.passwordHash) == 0 {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, password)
		return false
	}
	return bcrypt.CompareHashAndPassword(u.passwordHash, password) == nil
}

// SetPassword replaces the password of username in account acct.
func (s *UserStore) SetPassword(ctx context.Context, acct, username, password string) error {
	if len(password) < minPasswordLength || len(password) > maxPasswordLength {
		return fmt.Errorf("setting password of sftp user %q: %w: length must be %d to %d bytes",
			username, ErrBadPassword, minPasswordLength, maxPasswordLength)
	}
	if _, err := s.load(ctx, acct, username); err != nil {
		return fmt.Errorf("setting password of sftp user %q: %w", username, err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return fmt.Errorf("hashing password: %w", err)
	}
	if err := s.rdb.HSet(ctx, s.keys.user(acct, username), fieldPassword, string(hash)).Err(); err != nil {
		return fmt.Errorf("storing password of sftp user %q: %w", username, err)
	}
	return nil
}

// ResetPassword gives username a new generated password and returns it
// (shown once; only its bcrypt hash is stored).
func (s *UserStore) ResetPassword(ctx context.Context, acct, username string) (string, error) {
	password := randomFrom(alphabet, passwordLength)
	if err := s.SetPassword(ctx, acct, username, password); err != nil {
		return "", err
	}
	return password, nil
}

// AddPublicKey lets username log in with the public key given as an
// authorized_keys line ("ssh-ed25519 AAAA... comment"). It returns the key's
// SHA256 fingerprint, which names the key in RemovePublicKey.
func (s *UserStore) AddPublicKey(ctx context.Context, acct, username, authorizedKey string) (string, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return "", fmt.Errorf("adding public key to sftp user %q: %w: %v", username, ErrBadPublicKey, err)
	}
	if _, err := s.load(ctx, acct, username); err != nil {
		return "", fmt.Errorf("adding public key to sftp user %q: %w", username, err)
	}
	fp := ssh.FingerprintSHA256(pub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if err := s.rdb.HSet(ctx, s.keys.userKeys(acct, username), fp, line).Err(); err != nil {
		return "", fmt.Errorf("storing public key of sftp user %q: %w", username, err)
	}
	return fp, nil
}

// RemovePublicKey removes the key with the given SHA256 fingerprint. It
// reports whether the key was there.
func (s *UserStore) RemovePublicKey(ctx context.Context, acct, username, fingerprint string) (bool, error) {
	if _, err := s.load(ctx, acct, username); err != nil {
		return false, fmt.Errorf("removing public key of sftp user %q: %w", username, err)
	}
	n, err := s.rdb.HDel(ctx, s.keys.userKeys(acct, username), fingerprint).Result()
	if err != nil {
		return false, fmt.Errorf("removing public key of sftp user %q: %w", username, err)
	}
	return n > 0, nil
}

// ListPublicKeys returns the user's public keys, in no particular order.
func (s *UserStore) ListPublicKeys(ctx context.Context, acct, username string) ([]PublicKey, error) {
	if _, err := s.load(ctx, acct, username); err != nil {
		return nil, fmt.Errorf("listing public keys of sftp user %q: %w", username, err)
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.userKeys(acct, username)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing public keys of sftp user %q: %w", username, err)
	}
	out := make([]PublicKey, 0, len(m))
	for fp, line := range m {
		out = append(out, PublicKey{Fingerprint: fp, AuthorizedKey: line})
	}
	return out, nil
}

// hasPublicKey reports whether pub is one of the user's keys.
func (s *UserStore) hasPublicKey(ctx context.Context, u User, pub ssh.PublicKey) (bool, error) {
	line, err := s.rdb.HGet(ctx, s.keys.userKeys(u.Account, u.Username), ssh.FingerprintSHA256(pub)).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading public keys of sftp user %q: %w", u.Username, err)
	}
	stored, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return false, nil
	}
	return string(stored.Marshal()) == string(pub.Marshal()), nil
}

// DeleteUser removes username from account acct: its record, its keys and
// its name. Its files are left alone (see RemoveUserFiles).
func (s *UserStore) DeleteUser(ctx context.Context, acct, username string) error {
	if _, err := s.load(ctx, acct, username); err != nil {
		return fmt.Errorf("deleting sftp user %q: %w", username, err)
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.keys.user(acct, username), s.keys.userKeys(acct, username))
		p.SRem(ctx, s.keys.accountUsers(acct), username)
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting sftp user %q: %w", username, err)
	}
	if _, err := redislock.Release(ctx, s.rdb, s.keys.userIndex(username), acct); err != nil {
		return fmt.Errorf("releasing sftp username %q: %w", username, err)
	}
	return nil
}

// ListUsers returns the usernames of account acct.
func (s *UserStore) ListUsers(ctx context.Context, acct string) ([]string, error) {
	names, err := s.rdb.SMembers(ctx, s.keys.accountUsers(acct)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing sftp users of account %q: %w", acct, err)
	}
	return names, nil
}
