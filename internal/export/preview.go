package export

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"github.com/brazesync/brazesync/internal/changelog"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/ratelimit"
	"github.com/brazesync/brazesync/wire"
)

// Preview is what a job's next run would send (the API's document).
type Preview = wire.ExportPreview

// previewChunk is how many users one step of a preview reads; previewWorkers
// steps run at once.
const (
	previewChunk   = 2000
	previewWorkers = 4
)

// PreviewNew previews the first run of a job that is not created yet (j
// passed the job store's checks): with existing_users, every current member
// of its audiences; without, nobody (only later changes are sent).
func (e *Engine) PreviewNew(ctx context.Context, j *jobs.Job) (*Preview, error) {
	cfg, err := ParseConfig(j.Config)
	if err != nil {
		return nil, err
	}
	maps, err := e.aud.MemberBitmaps(ctx, j.Account, cfg.Audiences)
	if err != nil {
		return nil, err
	}
	users := idSet{}
	if cfg.ExistingUsers {
		for _, m := range maps {
			users.addBitmap(m, 0)
		}
	}
	return e.preview(ctx, j, cfg, nil, users, bitmapsOf(cfg.Audiences, maps), false)
}

// PreviewJob previews what the job's next run would send: the users waiting
// or leased, those of change-log entries it has not read, those its
// unfinished backfill has not reached, and those omitted for want of an
// identifier that a changed identifier makes it consider again.
func (e *Engine) PreviewJob(ctx context.Context, j *jobs.Job) (*Preview, error) {
	cfg, err := ParseConfig(j.Config)
	if err != nil {
		return nil, err
	}
	acct, jobID := j.Account, j.ID
	retired, err := e.retired(ctx, acct, jobID)
	if err != nil {
		return nil, err
	}
	st, err := e.rdb.HMGet(ctx, e.k.state(acct, jobID), "bf_pending", "bf_cursor", "bf_auds", "ident", "reconsider").Result()
	if err != nil {
		return nil, fmt.Errorf("reading the state of job %s: %w", jobID, err)
	}
	var bfAuds []string
	bfPending := st[0] == "1"
	if bfPending {
		s, _ := st[2].(string)
		if bfAuds, err = audienceList(s, "audiences of the backfill", jobID); err != nil {
			return nil, err
		}
	}
	slugs := append(append([]string{}, cfg.Audiences...), bfAuds...)
	maps, err := e.aud.MemberBitmaps(ctx, acct, slugs)
	if err != nil {
		return nil, err
	}
	bm := bitmapsOf(slugs, maps)
	users := idSet{}
	walkAll := func() {
		for _, a := range cfg.Audiences {
			users.addBitmap(bm[a], 0)
		}
	}
	// The change log: entries the job has not read, or everything when it
	// has no consumer yet (a run sets it up) or fell behind the log's trim.
	entries, err := e.log.Read(ctx, acct, consumerName(jobID), 1000)
	switch {
	case errors.Is(err, changelog.ErrNoConsumer):
		if cfg.ExistingUsers {
			walkAll()
		}
	case errors.Is(err, changelog.ErrGap):
		walkAll()
	case err != nil:
		return nil, err
	}
	for len(entries) > 0 {
		for _, en := range entries {
			if contains(cfg.Audiences, en.Audience) || contains(retired, en.Audience) {
				if err := users.addID(en.ProfileID); err != nil {
					return nil, err
				}
			}
		}
		if entries, err = e.log.Range(ctx, acct, entries[len(entries)-1].ID, 1000); err != nil {
			return nil, err
		}
	}
	if bfPending {
		cursor, _ := st[1].(string)
		idx, inner := 0, int64(-1)
		if cursor != "" {
			i, rest, _ := strings.Cut(cursor, ":")
			if idx, err = strconv.Atoi(i); err != nil {
				return nil, fmt.Errorf("job %s: bad backfill cursor %q", jobID, cursor)
			}
			if rest != "" {
				if inner, err = strconv.ParseInt(rest, 10, 64); err != nil {
					return nil, fmt.Errorf("job %s: bad backfill cursor %q", jobID, cursor)
				}
			}
		}
		for i := idx; i < len(bfAuds); i++ {
			from := uint64(0)
			if i == idx {
				from = uint64(inner + 1)
			}
			users.addBitmap(bm[bfAuds[i]], from)
		}
	}
	if err := e.scanInto(ctx, &users, "ZSCAN", e.k.dirty(acct, jobID), 2); err != nil {
		return nil, err
	}
	if err := e.scanInto(ctx, &users, "ZSCAN", e.k.inflight(acct, jobID), 2); err != nil {
		return nil, err
	}
	if ident, _ := st[3].(string); ident != identifierOf(cfg) || st[4] == "1" {
		if err := e.scanInto(ctx, &users, "SSCAN", e.k.omitted(acct, jobID), 1); err != nil {
			return nil, err
		}
	}
	return e.preview(ctx, j, cfg, retired, users, bm, true)
}

// scanInto adds the members of a set or sorted set (cmd SSCAN or ZSCAN,
// stride 1 or 2: members alternate with scores) to users.
func (e *Engine) scanInto(ctx context.Context, users *idSet, cmd, key string, stride int) error {
	var cursor uint64
	for {
		var keys []string
		var err error
		if cmd == "ZSCAN" {
			keys, cursor, err = e.rdb.ZScan(ctx, key, cursor, "", 10000).Result()
		} else {
			keys, cursor, err = e.rdb.SScan(ctx, key, cursor, "", 10000).Result()
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", key, err)
		}
		for i := 0; i < len(keys); i += stride {
			if err := users.addID(keys[i]); err != nil {
				return err
			}
		}
		if cursor == 0 {
			return nil
		}
	}
}

// preview plans every user of users as a send would (planUsers) and counts
// the outcome; stored says whether the job has sent states to read.
func (e *Engine) preview(ctx context.Context, j *jobs.Job, cfg Config, retired []string, users idSet, bm map[string][]byte, stored bool) (*Preview, error) {
	batch, lim, err := e.sendSettings(ctx, j.Account, j.AuthorizationID)
	if err != nil {
		return nil, err
	}
	chunks := make(chan []string)
	results := make(chan result, previewWorkers)
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range previewWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := result{p: Preview{UsersOmitted: wire.ExportOmittedCounts{Reasons: map[string]int64{}}}}
			for ids := range chunks {
				if r.err != nil {
					continue // drain
				}
				if r.err = e.previewChunk(wctx, j, cfg, retired, ids, bm, stored, &r.p); r.err != nil {
					cancel()
				}
			}
			results <- r
		}()
	}
	users.chunks(previewChunk, func(ids []string) bool {
		select {
		case chunks <- ids:
			return true
		case <-wctx.Done():
			return false
		}
	})
	close(chunks)
	wg.Wait()
	close(results)
	out := &Preview{UsersOmitted: wire.ExportOmittedCounts{Reasons: map[string]int64{}}}
	var errs []error
	for r := range results {
		errs = append(errs, r.err)
		addPreview(out, r.p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out.Requests = (out.Objects + int64(batch) - 1) / int64(batch)
	perSec := float64(lim.Budget()) / lim.Per.Seconds()
	out.SecondsAtRateLimit = math.Round(float64(out.Requests)/perSec*1000) / 1000
	return out, nil
}

type result struct {
	p   Preview
	err error
}

// addPreview adds the counts of o, a preview of other users, to p.
func addPreview(p *Preview, o Preview) {
	p.UsersToAdd += o.UsersToAdd
	p.UsersToRemove += o.UsersToRemove
	p.UsersUnchanged += o.UsersUnchanged
	p.UsersOmitted.Total += o.UsersOmitted.Total
	for k, v := range o.UsersOmitted.Reasons {
		p.UsersOmitted.Reasons[k] += v
	}
	p.Objects += o.Objects
	p.DataPoints += o.DataPoints
}

// previewChunk plans one chunk of users and counts them into p: the same
// decisions as a send (planUsers), from the same inputs read in bulk (one
// field of each profile, membership from the bitmaps, the sent states).
func (e *Engine) previewChunk(ctx context.Context, j *jobs.Job, cfg Config, retired, ids []string, bm map[string][]byte, stored bool, p *Preview) error {
	fvs, err := e.prof.FieldValues(ctx, j.Account, ids, cfg.IdentifierField)
	if err != nil {
		return err
	}
	sent := make([]any, len(ids))
	if stored {
		if sent, err = e.rdb.HMGet(ctx, e.k.sent(j.Account, j.ID), ids...).Result(); err != nil {
			return fmt.Errorf("reading sent states of job %s: %w", j.ID, err)
		}
		sent = acceptedStates(sent)
	}
	gone := make([]bool, len(ids))
	idents := make([]string, len(ids))
	auds := make(map[string][]string, len(ids))
	combos := map[uint64][]string{}
	for i, id := range ids {
		fv := fvs[i]
		gone[i] = !fv.Exists
		idents[i] = identOf(fv.Value, fv.Value != nil, fv.Identities)
		n, _ := strconv.ParseUint(id, 10, 64)
		if len(cfg.Audiences) > 64 {
			for _, a := range cfg.Audiences {
				if bitSet(bm[a], n) {
					auds[id] = append(auds[id], a)
				}
			}
			continue
		}
		// Users in the same audiences share one list (planUsers only
		// reads it).
		var mask uint64
		for k, a := range cfg.Audiences {
			if bitSet(bm[a], n) {
				mask |= 1 << k
			}
		}
		if mask == 0 {
			continue
		}
		list, ok := combos[mask]
		if !ok {
			for k, a := range cfg.Audiences {
				if mask&(1<<k) != 0 {
					list = append(list, a)
				}
			}
			combos[mask] = list
		}
		auds[id] = list
	}
	for _, u := range planUsers(cfg, retired, ids, gone, idents, auds, sent) {
		switch {
		case u.omitCode != "":
			p.UsersOmitted.Total++
			p.UsersOmitted.Reasons[u.omitCode]++
		case u.complete:
			p.UsersUnchanged++
		default:
			p.Objects++
			p.DataPoints += int64(u.dataPoints)
			if len(u.object.Add) > 0 {
				p.UsersToAdd++
			} else {
				p.UsersToRemove++
			}
		}
	}
	return nil
}

// sendSettings are the batch size and rate limit a job sends with, from its
// authorization (as client reads them).
func (e *Engine) sendSettings(ctx context.Context, acct, authID string) (int, ratelimit.Limit, error) {
	a, _, err := e.creds.Credentials(ctx, acct, authID)
	if err != nil {
		return 0, ratelimit.Limit{}, fmt.Errorf("reading authorization %s: %w", authID, err)
	}
	batch, lim := e.authSettings(a)
	return batch, lim, nil
}

func bitmapsOf(slugs []string, maps [][]byte) map[string][]byte {
	m := make(map[string][]byte, len(slugs))
	for i, s := range slugs {
		m[s] = maps[i]
	}
	return m
}

// bitSet reports whether bit n of an audience bitmap (most significant bit
// first) is 1.
func bitSet(b []byte, n uint64) bool {
	i := n / 8
	return i < uint64(len(b)) && b[i]&(0x80>>(n%8)) != 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// idSet is a set of profile ids (dense numbers) as a bitmap of 64-bit words.
type idSet struct{ words []uint64 }

func (s *idSet) add(n uint64) {
	w := n / 64
	if w >= uint64(len(s.words)) {
		s.words = append(s.words, make([]uint64, int(w)+1-len(s.words))...)
	}
	s.words[w] |= 1 << (n % 64)
}

func (s *idSet) addID(id string) error {
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return fmt.Errorf("profile id %q is not a profile number", id)
	}
	s.add(n)
	return nil
}

// addBitmap adds the members of an audience bitmap from profile id from on.
func (s *idSet) addBitmap(b []byte, from uint64) {
	for i, x := range b {
		if x == 0 {
			continue
		}
		for bit := range 8 {
			if x&(0x80>>bit) != 0 {
				if n := uint64(i)*8 + uint64(bit); n >= from {
					s.add(n)
				}
			}
		}
	}
}

// chunks calls f with the ids in order, size at a time, until f returns
// false.
func (s *idSet) chunks(size int, f func([]string) bool) {
	ids := make([]string, 0, size)
	for w, x := range s.words {
		for x != 0 {
			b := bits.TrailingZeros64(x)
			x &^= 1 << b
			ids = append(ids, strconv.FormatUint(uint64(w)*64+uint64(b), 10))
			if len(ids) == size {
				if !f(ids) {
					return
				}
				ids = make([]string, 0, size)
			}
		}
	}
	if len(ids) > 0 {
		f(ids)
	}
}
