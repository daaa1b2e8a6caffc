package profiles

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// maxMergeHops bounds how many merge redirects Get follows.
const maxMergeHops = 16

// Get returns the profile with id. An id that was merged away gives the
// surviving profile (whose ID differs); an unknown or deleted id gives
// ErrNotFound.
func (s *Store) Get(ctx context.Context, account, id string) (*Profile, error) {
	for range maxMergeHops {
		ps, err := s.getMany(ctx, account, []string{id})
		if err != nil {
			return nil, err
		}
		if ps[0] != nil {
			return ps[0], nil
		}
		next, err := s.rdb.Get(ctx, s.keys.merged(account, id)).Result()
		if errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("profile %q of account %q: %w", id, account, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("reading merge of profile %q of account %q: %w", id, account, err)
		}
		id = next
	}
	return nil, fmt.Errorf("profile %q of account %q: too many merges: %w", id, account, ErrNotFound)
}

// getMany reads profiles in one round trip; missing ones are nil.
func (s *Store) getMany(ctx context.Context, account string, ids []string) ([]*Profile, error) {
	return s.readProfiles(ctx, account, ids, true)
}

// readProfiles reads profiles in one round trip, their data fields only
// withFields; missing ones are nil.
func (s *Store) readProfiles(ctx context.Context, account string, ids []string, withFields bool) ([]*Profile, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Get(ctx, s.keys.profile(account, id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading %d profiles of account %q: %w", len(ids), account, err)
	}
	out := make([]*Profile, len(ids))
	for i, c := range cmds {
		out[i] = decodeProfile(ids[i], c.Val(), withFields)
	}
	return out, nil
}

// decodeProfile turns a stored profile into a Profile; nil when there is
// none.
func decodeProfile(id, stored string, withFields bool) *Profile {
	sp, ok := decodeStored(stored)
	if !ok {
		return nil
	}
	st := profileState{id: id, fs: sp.fs, ls: sp.ls, base: sp.base, ids: sp.ids, raw: sp.data}
	return st.profile(withFields)
}

// addIdentities adds identity suffixes "field:value" to p, each field's
// values sorted.
func addIdentities(p *Profile, suffixes []string) {
	// One array for the values: most fields have one, and a second value
	// appended to a field's full slice moves it out.
	values := make([]string, 0, len(suffixes))
	for _, suffix := range suffixes {
		field, value, ok := strings.Cut(suffix, ":")
		if !ok {
			continue
		}
		cur, found := p.Identities[field]
		switch {
		case !found:
			values = append(values, value)
			p.Identities[field] = values[len(values)-1 : len(values) : len(values)]
		case !slices.Contains(cur, value):
			p.Identities[field] = append(cur, value)
		}
	}
	for _, vs := range p.Identities {
		sort.Strings(vs)
	}
}

// addFields adds the decoded stored values of data to p.
func addFields(p *Profile, data map[string]string) {
	for name, stored := range data {
		val, ts, ok := decodeValue(stored)
		if !ok {
			continue
		}
		p.Fields[name] = val
		p.FieldTimes[name] = ts
	}
}

// Lookup returns the profile that holds value in identity field field, or
// ErrNotFound. Only identity fields are indexed.
func (s *Store) Lookup(ctx context.Context, account, field, value string) (*Profile, error) {
	id, err := s.Resolve(ctx, account, map[string]string{field: value})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, account, id)
}

// Resolve returns the id of the profile holding any of the identities
// (identity field to value). When they point at several profiles the oldest
// wins; Resolve never creates or merges. No match gives ErrNotFound.
func (s *Store) Resolve(ctx context.Context, account string, identities map[string]string) (string, error) {
	fields := make([]string, 0, len(identities))
	for f, v := range identities {
		v = normalizeIdentity(f, v)
		if f == "" || v == "" {
			continue
		}
		fields = append(fields, identitySuffix(f, v))
	}
	if len(fields) == 0 {
		return "", fmt.Errorf("resolving profile of account %q: no identity given: %w", account, ErrNotFound)
	}
	pipe := s.rdb.Pipeline()
	index := s.keys.queueIndexGet(ctx, pipe, account, fields, nil)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("resolving profile of account %q: %w", account, err)
	}
	best, bestN := "", int64(0)
	vals, err := index()
	if err != nil {
		return "", fmt.Errorf("resolving profile of account %q: %w", account, err)
	}
	for _, v := range vals {
		id, ok := v.(string)
		if !ok {
			continue
		}
		if n, ok := idNumber(id); ok && (best == "" || n < bestN) {
			best, bestN = id, n
		}
	}
	if best == "" {
		return "", fmt.Errorf("resolving profile of account %q: %w", account, ErrNotFound)
	}
	return best, nil
}

// Delete forgets a profile and its identity index entries. The hook is told
// with a Change whose Profile is nil. Deleting an unknown id gives
// ErrNotFound.
func (s *Store) Delete(ctx context.Context, account, id string) error {
	n, err := deleteScript.Run(ctx, s.rdb, []string{s.keys.profile(account, id)}, s.keys.prefix(account), id).Int()
	if err != nil {
		return fmt.Errorf("deleting profile %q of account %q: %w", id, account, err)
	}
	if n == 0 {
		return fmt.Errorf("deleting profile %q of account %q: %w", id, account, ErrNotFound)
	}
	if s.hook != nil {
		if err := s.hook.ProfilesChanged(ctx, account, []Change{{ProfileID: id}}); err != nil {
			return fmt.Errorf("profile %q of account %q deleted; change hook: %w", id, account, err)
		}
	}
	return nil
}

// Scan returns up to count profiles of account in id order, starting after
// cursor ("" for the start), and the cursor of the next page ("" when done).
// Profiles created or merged during a scan may or may not be seen.
func (s *Store) Scan(ctx context.Context, account, cursor string, count int) ([]Profile, string, error) {
	if count <= 0 {
		count = 100
	}
	var from int64
	if cursor != "" {
		n, ok := idNumber(cursor)
		if !ok {
			return nil, "", fmt.Errorf("scanning profiles of account %q: bad cursor %q", account, cursor)
		}
		from = n
	}
	last, err := s.rdb.Get(ctx, s.keys.seq(account)).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("scanning profiles of account %q: %w", account, err)
	}
	out := make([]Profile, 0, count)
	// Ids are dense, with holes where profiles were merged or deleted; read
	// windows of ids until the page is full or the ids run out.
	for from < last && len(out) < count {
		window := min(int64(count-len(out)), last-from)
		ids := make([]string, window)
		for i := range ids {
			ids[i] = strconv.FormatInt(from+int64(i)+1, 10)
		}
		ps, err := s.getMany(ctx, account, ids)
		if err != nil {
			return nil, "", err
		}
		for _, p := range ps {
			if p != nil {
				out = append(out, *p)
			}
		}
		from += window
	}
	if from >= last {
		return out, "", nil
	}
	return out, strconv.FormatInt(from, 10), nil
}

// Count returns the number of profiles of account.
func (s *Store) Count(ctx context.Context, account string) (int64, error) {
	vals, err := s.rdb.MGet(ctx, s.keys.seq(account), s.keys.gone(account)).Result()
	if err != nil {
		return 0, fmt.Errorf("counting profiles of account %q: %w", account, err)
	}
	var n [2]int64
	for i, v := range vals {
		if str, ok := v.(string); ok {
			n[i], _ = strconv.ParseInt(str, 10, 64)
		}
	}
	return n[0] - n[1], nil
}
