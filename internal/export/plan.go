package export

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/profiles"
)

// user is one leased user and what to send.
type user struct {
	id       string
	object   *braze.Object
	state    string // the state to remember once accepted ("" = forget)
	added    int
	removed  int
	omitted  string // reason, when nothing is sent
	omitCode string // OmitNoIdentifier, OmitProfileGone
	noIdent  bool   // omitted for want of an identifier
	complete bool   // nothing to send: done
}

const stateSep = "\x1f"

// A sent state is "<kind>=<value>" stateSep "<audience>,...". Since Braze
// accepted it, the sent hash keeps it followed by acceptedTag and the time
// in ms (completeScript appends it; a state stored before has none). Every
// reader strips the time first (acceptedStates), so that plans compare
// states alone.
func parseState(s string) (ident string, in []string) {
	ident, rest, _ := strings.Cut(s, stateSep)
	if rest != "" {
		in = strings.Split(rest, ",")
	}
	return ident, in
}

// acceptedTag starts the time a sent state was accepted at.
const acceptedTag = stateSep + "t:"

// stateCore splits what the sent hash holds into the state and the time
// Braze accepted it (ms; 0 when not kept).
func stateCore(s string) (string, int64) {
	i := strings.LastIndex(s, acceptedTag)
	if i < 0 {
		return s, 0
	}
	ms, err := strconv.ParseInt(s[i+len(acceptedTag):], 10, 64)
	if err != nil {
		return s, 0
	}
	return s[:i], ms
}

// acceptedStates strips the accepted times from sent hash values (HMGET's
// answer: strings or nil), in place, and returns them.
func acceptedStates(vals []any) []any {
	for i, v := range vals {
		if s, ok := v.(string); ok {
			vals[i], _ = stateCore(s)
		}
	}
	return vals
}

func identValue(p *profiles.Profile, field string) string {
	v, ok := p.Fields[field]
	return identOf(v, ok, p.Identities[field])
}

// identOf is the identifier a profile is sent with: its field's value (v,
// when it has one), else its first identity value of the field.
func identOf(v any, ok bool, identities []string) string {
	if ok {
		switch x := v.(type) {
		case string:
			return x
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(x)
		case []string:
			if len(x) > 0 {
				return x[0]
			}
		}
	}
	if len(identities) > 0 {
		return identities[0]
	}
	return ""
}

// identifierOf names the identifier a job's users are sent with; users
// omitted for want of one are considered again when it changes.
func identifierOf(cfg Config) string {
	return string(cfg.IdentifierKind) + "=" + cfg.IdentifierField
}

func identFromState(s string, cfg Config) (braze.Identifier, bool) {
	kind, value, ok := strings.Cut(s, "=")
	if !ok || value == "" {
		return braze.Identifier{}, false
	}
	return braze.Identifier{Kind: braze.IdentifierKind(kind), Value: value, AliasLabel: cfg.AliasLabel}, true
}

// plan decides, for each leased user, what to send.
func (e *Engine) plan(ctx context.Context, acct, jobID string, cfg Config, retired []string, ids []string) ([]*user, error) {
	ps, err := e.prof.GetMany(ctx, acct, ids)
	if err != nil {
		return nil, err
	}
	auds, err := e.aud.ProfilesAudiences(ctx, acct, ids)
	if err != nil {
		return nil, err
	}
	sent, err := e.rdb.HMGet(ctx, e.k.sent(acct, jobID), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading sent states of job %s: %w", jobID, err)
	}
	idents := make([]string, len(ids))
	gone := make([]bool, len(ids))
	for i, p := range ps {
		if gone[i] = p == nil; !gone[i] {
			idents[i] = identValue(p, cfg.IdentifierField)
		}
	}
	return planUsers(cfg, retired, ids, gone, idents, auds, acceptedStates(sent)), nil
}

// Reasons a user is omitted (user.omitCode): the preview counts them and
// the per-user trace shows them.
const (
	OmitNoIdentifier = "no_identifier"
	OmitProfileGone  = "profile_gone"
)

// planUsers decides what to send for each user of ids, from whether its
// profile is gone, its identifier (identValue), the audiences it is in,
// and the state Braze last accepted (sent[i], a string or nil). A send and
// a preview both decide here, so that a preview agrees with the run.
func planUsers(cfg Config, retired []string, ids []string, gone []bool, idents []string, auds map[string][]string, sent []any) []*user {
	out := make([]*user, len(ids))
	for i, id := range ids {
		u := &user{id: id}
		out[i] = u
		prev, _ := sent[i].(string)
		prevIdent, prevIn := parseState(prev)
		if gone[i] {
			// Deleted or merged away: remove every audience of the job from
			// the Braze user we last sent, if any.
			bid, ok := identFromState(prevIdent, cfg)
			if !ok {
				u.omitted, u.omitCode, u.complete = "profile deleted or merged before it was sent", OmitProfileGone, true
				continue
			}
			obj := braze.Segments(bid, cfg.Attribute, nil, sortedUnique(append(slices.Clone(cfg.Audiences), retired...)))
			u.object, u.removed = &obj, len(prevIn)
			continue
		}
		value := idents[i]
		if value == "" {
			u.omitted, u.omitCode, u.complete, u.noIdent = fmt.Sprintf("no value in field %q", cfg.IdentifierField), OmitNoIdentifier, true, true
			continue
		}
		var in []string
		for _, a := range auds[id] {
			if slices.Contains(cfg.Audiences, a) {
				in = append(in, a)
			}
		}
		in = sortedUnique(in)
		ident := string(cfg.IdentifierKind) + "=" + value
		u.state = ident + stateSep + strings.Join(in, ",")
		if prev == u.state {
			u.complete = true
			continue
		}
		var out []string
		for _, a := range cfg.Audiences {
			if !slices.Contains(in, a) {
				out = append(out, a)
			}
		}
		out = sortedUnique(append(out, retired...))
		bid := braze.Identifier{Kind: cfg.IdentifierKind, Value: value, AliasLabel: cfg.AliasLabel}
		obj := braze.Segments(bid, cfg.Attribute, in, out)
		u.object = &obj
		for _, a := range in {
			if !slices.Contains(prevIn, a) {
				u.added++
			}
		}
		for _, a := range prevIn {
			if !slices.Contains(in, a) {
				u.removed++
			}
		}
	}
	return out
}
