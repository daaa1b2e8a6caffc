package audiences

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/brazesync/brazesync/internal/fault"
	"github.com/redis/go-redis/v9"
)

// Audience members are kept as bitmaps: bit n of an audience's bitmap is 1
// when profile n is a member. Profile ids are dense numbers handed out by
// the profiles store, so a bitmap holds an account's whole membership of
// one audience in (highest id / 8) bytes, and a profile enters or leaves
// with one bit. Reading one profile's audiences is one bit per audience.

// parseID returns the bit of a profile id: a decimal number, written as the
// profiles store writes it, below 2^32 (Redis' bit offsets end there).
func parseID(id string) (uint32, error) {
	n, err := strconv.ParseUint(id, 10, 32)
	// ParseUint takes only digits in base 10; the written form of n is
	// id unless id has leading zeros.
	if err != nil || (id[0] == '0' && id != "0") {
		return 0, fmt.Errorf("profile id %q is not a profile number", id)
	}
	return uint32(n), nil
}

func checkID(id string) error {
	_, err := parseID(id)
	return err
}

// memberChunk is how many bytes of a bitmap Members reads at once (32,768
// profile ids).
const memberChunk = 4096

// Members returns up to count member profile ids of the audience after
// cursor ("" for the first page), in id order, and the cursor of the next
// page ("" after the last); a cursor that is not a profile id is a
// *fault.ValidationError. Paging is exact: no id is repeated or skipped
// unless it changes membership meanwhile. It implements
// changelog.MemberSource.
func (s *Service) Members(ctx context.Context, acct, slug, cursor string, count int) ([]string, string, error) {
	if count <= 0 {
		count = 100
	}
	var from int64 // first bit that may be returned
	if cursor != "" {
		n, err := parseID(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("listing members of audience %q of account %q: %w", slug, acct,
				&fault.ValidationError{Field: "cursor", Message: "must be a next_cursor given by an earlier page (a profile id)"})
		}
		from = int64(n) + 1
	}
	key := s.keys.members(acct, slug)
	ids := make([]string, 0, min(count, 1024))
	for len(ids) < count {
		// The first byte from here that holds a member (byte offsets work
		// on Redis 6.2; bits of that byte before from are skipped below).
		at, err := s.rdb.BitPos(ctx, key, 1, from/8, -1).Result()
		if err != nil {
			return nil, "", fmt.Errorf("listing members of audience %q of account %q: %w", slug, acct, err)
		}
		if at < 0 {
			break
		}
		first := at / 8
		data, err := s.rdb.GetRange(ctx, key, first, first+memberChunk-1).Bytes()
		if err != nil {
			return nil, "", fmt.Errorf("listing members of audience %q of account %q: %w", slug, acct, err)
		}
		for i, b := range data {
			for bit := 0; b != 0 && bit < 8; bit++ {
				if b&(0x80>>bit) == 0 {
					continue
				}
				if id := (first+int64(i))*8 + int64(bit); id >= from {
					ids = append(ids, strconv.FormatInt(id, 10))
					if len(ids) == count {
						return ids, ids[count-1], nil
					}
				}
			}
		}
		if len(data) < memberChunk {
			break // the end of the bitmap
		}
		from = (first + memberChunk) * 8
	}
	return ids, "", nil
}

// Size returns the number of members of the audience.
func (s *Service) Size(ctx context.Context, acct, slug string) (int64, error) {
	n, err := s.rdb.BitCount(ctx, s.keys.members(acct, slug), nil).Result()
	if err != nil {
		return 0, fmt.Errorf("measuring audience %q of account %q: %w", slug, acct, err)
	}
	return n, nil
}

// ProfileAudiences returns the slugs of the audiences the profile is in,
// sorted.
func (s *Service) ProfileAudiences(ctx context.Context, acct, profileID string) ([]string, error) {
	m, err := s.ProfilesAudiences(ctx, acct, []string{profileID})
	if err != nil {
		return nil, err
	}
	if slugs := m[profileID]; slugs != nil {
		return slugs, nil
	}
	return []string{}, nil
}

// ProfilesAudiences returns, for each profile id, the slugs of the audiences
// it is in (sorted; a profile in none is left out), in one round trip: one
// bit per audience and profile. The audiences are the account's current
// ones; if another process changed them since this one cached them, they
// are read again.
func (s *Service) ProfilesAudiences(ctx context.Context, acct string, ids []string) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	fields := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("reading audiences of profiles of account %q: %w", acct, err)
		}
		fields = append(fields, "u1", id)
	}
	for attempt := range 2 {
		d, err := s.defs(ctx, acct, attempt > 0)
		if err != nil {
			return nil, err
		}
		pipe := s.rdb.Pipeline()
		ver := pipe.Get(ctx, s.keys.version(acct))
		bits := make([]*redis.IntSliceCmd, len(d.list))
		for i, x := range d.list {
			bits[i] = pipe.BitFieldRO(ctx, s.keys.members(acct, x.Slug), fields...)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("reading audiences of %d profiles of account %q: %w", len(ids), acct, err)
		}
		v := ver.Val()
		if v == "" {
			v = "0"
		}
		if v != d.version && attempt == 0 {
			continue // changed elsewhere: read the definitions again
		}
		for i, x := range d.list {
			for j, b := range bits[i].Val() {
				if b == 1 {
					out[ids[j]] = append(out[ids[j]], x.Slug)
				}
			}
		}
		break
	}
	return out, nil
}
