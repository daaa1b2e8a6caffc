package brazesim

import (
	"hash/maphash"
	"maps"
	"strings"
	"sync"
)

// Identifier kinds, as Braze names the fields.
const (
	KindExternalID = "external_id"
	KindBrazeID    = "braze_id"
	KindUserAlias  = "user_alias"
	KindEmail      = "email"
	KindPhone      = "phone"
)

const userShards = 64

// userStore keeps users by identifier in shards, each under its own lock,
// so that concurrent requests rarely contend.
type userStore struct {
	seed   maphash.Seed
	shards [userShards]userShard
}

type userShard struct {
	mu    sync.Mutex
	users map[string]map[string]any // identity key -> attributes
}

func newUserStore() *userStore {
	u := &userStore{seed: maphash.MakeSeed()}
	for i := range u.shards {
		u.shards[i].users = map[string]map[string]any{}
	}
	return u
}

// identityKey is the store key of an identifier: kind, NUL, value. For
// user_alias the value is "label:name".
func identityKey(kind, value string) string { return kind + "\x00" + value }

func (u *userStore) shard(key string) *userShard {
	return &u.shards[maphash.String(u.seed, key)%userShards]
}

// update applies fn to the attributes of the user with key, creating the
// user first when create is true. It reports whether the user exists.
func (u *userStore) update(key string, create bool, fn func(attrs map[string]any)) bool {
	sh := u.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	attrs, ok := sh.users[key]
	if !ok {
		if !create {
			return false
		}
		attrs = map[string]any{}
		sh.users[key] = attrs
	}
	fn(attrs)
	return true
}

func (u *userStore) get(key string) (map[string]any, bool) {
	sh := u.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	attrs, ok := sh.users[key]
	if !ok {
		return nil, false
	}
	return deepCopy(attrs), true
}

func (u *userStore) len() int {
	n := 0
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		n += len(sh.users)
		sh.mu.Unlock()
	}
	return n
}

func (u *userStore) reset() {
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		sh.users = map[string]map[string]any{}
		sh.mu.Unlock()
	}
}

// deepCopy copies the maps and slices of decoded JSON so that callers never
// share memory with the store.
func deepCopy(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range out {
		switch v := v.(type) {
		case map[string]any:
			out[k] = deepCopy(v)
		case []any:
			s := make([]any, len(v))
			copy(s, v)
			for i, e := range s {
				if em, ok := e.(map[string]any); ok {
					s[i] = deepCopy(em)
				}
			}
			out[k] = s
		}
	}
	return out
}

// User returns the attributes of the user with this external_id, and
// whether it exists. The map is a copy.
func (s *Sim) User(externalID string) (map[string]any, bool) {
	return s.users.get(identityKey(KindExternalID, externalID))
}

// UserBy returns the attributes of the user identified by kind (one of the
// Kind constants) and value; for KindUserAlias value is "alias_label:alias_name".
// Emails are matched case-insensitively.
func (s *Sim) UserBy(kind, value string) (map[string]any, bool) {
	if kind == KindEmail {
		value = strings.ToLower(value)
	}
	return s.users.get(identityKey(kind, value))
}
