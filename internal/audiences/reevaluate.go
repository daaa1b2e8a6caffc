package audiences

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Progress of the latest re-evaluation of a rule audience, kept in Redis so
// that every process (and the API) sees it.
type Progress struct {
	// State is "pending" (rule created or changed, re-evaluation not started),
	// "running" or "done".
	State     string    `json:"state"`
	Scanned   int64     `json:"scanned"`
	Entered   int64     `json:"entered"`
	Exited    int64     `json:"exited"`
	Cursor    string    `json:"cursor,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Progress states.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateDone    = "done"
)

func parseProgress(m map[string]string) *Progress {
	if len(m) == 0 {
		return nil
	}
	p := &Progress{State: m["state"], Cursor: m["cursor"]}
	p.Scanned, _ = strconv.ParseInt(m["scanned"], 10, 64)
	p.Entered, _ = strconv.ParseInt(m["entered"], 10, 64)
	p.Exited, _ = strconv.ParseInt(m["exited"], 10, 64)
	if ms, err := strconv.ParseInt(m["started_at"], 10, 64); err == nil {
		p.StartedAt = time.UnixMilli(ms).UTC()
	}
	if ms, err := strconv.ParseInt(m["updated_at"], 10, 64); err == nil {
		p.UpdatedAt = time.UnixMilli(ms).UTC()
	}
	return p
}

func (s *Service) markPending(ctx context.Context, acct, slug string) error {
	key := s.keys.progress(acct, slug)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		p.HSet(ctx, key, "state", StatePending, "updated_at", s.now().UnixMilli())
		return nil
	})
	if err != nil {
		return fmt.Errorf("marking re-evaluation of audience %q of account %q pending: %w", slug, acct, err)
	}
	return nil
}

// evaluatingFor bounds how long a re-evaluation that makes no progress
// counts as under way for Evaluating: one whose task was lost does not
// hold anything for good.
const evaluatingFor = 2 * time.Minute

// Evaluating tells whether any of the audiences slugs is still taking in
// the existing profiles: a re-evaluation pending or running, that started
// or progressed within the last two minutes. An export holds its run open
// meanwhile, so that the members the evaluation adds are sent at once.
func (s *Service) Evaluating(ctx context.Context, acct string, slugs []string) (bool, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(slugs))
	for i, slug := range slugs {
		cmds[i] = pipe.HMGet(ctx, s.keys.progress(acct, slug), "state", "updated_at")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("reading re-evaluation progress of audiences of account %q: %w", acct, err)
	}
	since := s.now().Add(-evaluatingFor).UnixMilli()
	for _, c := range cmds {
		v := c.Val()
		state, _ := v[0].(string)
		updated, _ := v[1].(string)
		ms, err := strconv.ParseInt(updated, 10, 64)
		if (state == StatePending || state == StateRunning) && err == nil && ms >= since {
			return true, nil
		}
	}
	return false, nil
}

// Progress returns the progress of the latest re-evaluation of the
// audience, nil if there never was one.
func (s *Service) Progress(ctx context.Context, acct, slug string) (*Progress, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.progress(acct, slug)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading re-evaluation progress of audience %q of account %q: %w", slug, acct, err)
	}
	return parseProgress(m), nil
}

// ReevaluateChunk re-evaluates the rule audience against one chunk of
// profiles (Options.ChunkSize) from cursor ("" to start) and returns the
// cursor of the next chunk, whether the walk is done, and the counts of this
// chunk. Progress (totals, cursor, state) is kept in Redis. Call it again with
// next until done; a chunk that fails can be retried with the same cursor
// (membership is idempotent; only the scanned total may count a retried chunk
// twice). Profiles that change meanwhile are placed by ProfilesChanged; a
// profile that changes between this chunk's read and its write may be
// decided on the data read until its next change.
func (s *Service) ReevaluateChunk(ctx context.Context, acct, slug, cursor string) (next string, done bool, counts Counts, err error) {
	if s.profiles == nil {
		return "", false, Counts{}, errors.New("audiences: re-evaluation needs a profiles store")
	}
	list, next, err := s.profiles.Scan(ctx, acct, cursor, s.chunk)
	if err != nil {
		return "", false, Counts{}, fmt.Errorf("scanning profiles of account %q for audience %q: %w", acct, slug, err)
	}
	for attempt := range 3 {
		var d *accountDefs
		d, err = s.defs(ctx, acct, attempt > 0)
		if err != nil {
			return "", false, Counts{}, err
		}
		x := d.bySlug[slug]
		if x == nil && attempt == 0 {
			continue // maybe created in another process: look again
		}
		if x == nil {
			return "", false, Counts{}, fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotFound)
		}
		if x.Kind != KindRule {
			return "", false, Counts{}, fmt.Errorf("audience %q of account %q: %w", slug, acct, ErrNotRule)
		}
		b := s.newBatch(acct, d.version, []scopeAud{{slug: slug, decided: true}})
		now := s.now()
		for i := range list {
			spec := "0"
			if x.rule.match(&view{p: &list[i]}, now) {
				spec = "1"
			}
			b.add(list[i].ID, spec, "")
		}
		counts, err = b.run(ctx, s)
		if !errors.Is(err, errStale) {
			break
		}
	}
	if err != nil {
		return "", false, counts, err
	}
	done = next == ""
	if err := s.recordProgress(ctx, acct, slug, cursor == "", next, done, counts); err != nil {
		return next, done, counts, err
	}
	return next, done, counts, nil
}

func (s *Service) recordProgress(ctx context.Context, acct, slug string, first bool, next string, done bool, c Counts) error {
	key := s.keys.progress(acct, slug)
	now := s.now().UnixMilli()
	state := StateRunning
	if done {
		state = StateDone
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if first {
			p.Del(ctx, key)
			p.HSet(ctx, key, "started_at", now)
		}
		p.HIncrBy(ctx, key, "scanned", c.Profiles)
		p.HIncrBy(ctx, key, "entered", c.Entered)
		p.HIncrBy(ctx, key, "exited", c.Exited)
		p.HSet(ctx, key, "state", state, "cursor", next, "updated_at", now)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording re-evaluation progress of audience %q of account %q: %w", slug, acct, err)
	}
	return nil
}

// ReevaluateRelativeChunk re-evaluates, against one chunk of profiles, every
// rule audience of the account whose rule depends on the current time
// (within_last, before_last). It works like ReevaluateChunk but keeps no
// progress: the caller keeps the cursor.
func (s *Service) ReevaluateRelativeChunk(ctx context.Context, acct, cursor string) (next string, done bool, counts Counts, err error) {
	if s.profiles == nil {
		return "", false, Counts{}, errors.New("audiences: re-evaluation needs a profiles store")
	}
	d, err := s.defs(ctx, acct, true)
	if err != nil {
		return "", false, Counts{}, err
	}
	var rel []*def
	for _, x := range d.list {
		if x.Kind == KindRule && x.rule.relative {
			rel = append(rel, x)
		}
	}
	if len(rel) == 0 {
		return "", true, Counts{}, nil
	}
	list, next, err := s.profiles.Scan(ctx, acct, cursor, s.chunk)
	if err != nil {
		return "", false, Counts{}, fmt.Errorf("scanning profiles of account %q: %w", acct, err)
	}
	for attempt := range 3 {
		if attempt > 0 {
			if d, err = s.defs(ctx, acct, true); err != nil {
				return "", false, Counts{}, err
			}
			rel = rel[:0]
			for _, x := range d.list {
				if x.Kind == KindRule && x.rule.relative {
					rel = append(rel, x)
				}
			}
		}
		scope := make([]scopeAud, len(rel))
		for i, x := range rel {
			scope[i] = scopeAud{slug: x.Slug, decided: true}
		}
		b := s.newBatch(acct, d.version, scope)
		now := s.now()
		var spec []byte
		for i := range list {
			spec = appendSpec(spec[:0], rel, &list[i], now)
			b.add(list[i].ID, string(spec), "")
		}
		counts, err = b.run(ctx, s)
		if !errors.Is(err, errStale) {
			break
		}
	}
	if err != nil {
		return "", false, counts, err
	}
	return next, next == "", counts, nil
}

// ReevaluateRelative re-evaluates every time-dependent rule audience of the
// account against every profile, chunk by chunk. The scheduler calls it at
// least hourly (lytics_new is one of them).
func (s *Service) ReevaluateRelative(ctx context.Context, acct string) (Counts, error) {
	var total Counts
	cursor := ""
	for {
		next, done, c, err := s.ReevaluateRelativeChunk(ctx, acct, cursor)
		total.add(c)
		if err != nil {
			return total, err
		}
		if done {
			return total, nil
		}
		cursor = next
	}
}
