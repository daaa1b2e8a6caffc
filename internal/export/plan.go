package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/profiles"
	"github.com/brazesync/brazesync/wire"
)

// user is one leased user and what to send.
type user struct {
	id         string
	object     *braze.Object
	state      string // the state to remember once accepted ("" = forget)
	added      int
	removed    int
	dataPoints int    // attributes the object writes (Braze bills each)
	omitted    string // reason, when nothing is sent
	omitCode   string // OmitNoIdentifier, OmitProfileGone
	noIdent    bool   // omitted for want of an identifier
	complete   bool   // nothing to send: done
	acceptedAt int64  // when Braze accepted the state it has (ms; 0 unknown)
}

const stateSep = "\x1f"

// sentState is what Braze last accepted for a user, as the sent hash keeps
// it: "<kind>=<value>" SEP in-audiences, and in boolean mode SEP
// "b:<prefix>" SEP the audiences written false. An array-mode state has
// no third part, so that states written before boolean mode existed read
// as array mode.
type sentState struct {
	ident string
	in    []string
	// boolean: the attributes are booleans named prefix + slug; out are
	// the audiences whose attribute is false.
	boolean bool
	prefix  string
	out     []string
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// uncertainMark starts a sent state that is uncertain: a batch that lost
// its lease was accepted, so Braze holds what it or the batch recorded
// before wrote (completeScript). The candidates follow, newest first,
// separated by stateAltSep.
const (
	uncertainMark = "~"
	stateAltSep   = "\x1e"
)

// parseStates reads a sent state: its candidates (none for "") and
// whether it is certain (one candidate Braze is known to hold).
func parseStates(s string) (cands []sentState, certain bool) {
	if s == "" {
		return nil, true
	}
	rest, uncertain := strings.CutPrefix(s, uncertainMark)
	if !uncertain {
		return []sentState{parseState(s)}, true
	}
	for _, c := range strings.Split(rest, stateAltSep) {
		if c != "" {
			cands = append(cands, parseState(c))
		}
	}
	return cands, false
}

func parseState(s string) sentState {
	s, _ = stateCore(s)
	parts := strings.SplitN(s, stateSep, 4)
	st := sentState{ident: parts[0]}
	if len(parts) > 1 {
		st.in = splitList(parts[1])
	}
	if len(parts) > 2 {
		st.prefix, st.boolean = strings.CutPrefix(parts[2], "b:")
	}
	if len(parts) > 3 {
		st.out = splitList(parts[3])
	}
	return st
}

func (st sentState) String() string {
	s := st.ident + stateSep + strings.Join(st.in, ",")
	if st.boolean {
		s += stateSep + "b:" + st.prefix + stateSep + strings.Join(st.out, ",")
	}
	return s
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
	return e.planKnown(ctx, acct, jobID, cfg, retired, ids, nil, nil)
}

// planKnown is plan with what was already read of the users: their sent
// states (sent[i] for ids[i], as HMGET answers them) and their audiences
// (auds, by id); each is read here when nil. The reads go to Redis at once.
func (e *Engine) planKnown(ctx context.Context, acct, jobID string, cfg Config, retired []string, ids []string, sent []any, auds map[string][]string) ([]*user, error) {
	var (
		fvs              []profiles.FieldValue
		ferr, aerr, serr error
		wg               sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Only the identifier field is read and decoded, not whole profiles.
		fvs, ferr = e.prof.FieldValues(ctx, acct, ids, cfg.IdentifierField)
	}()
	if auds == nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			auds, aerr = e.aud.ProfilesAudiences(ctx, acct, ids)
		}()
	}
	if sent == nil {
		if sent, serr = e.rdb.HMGet(ctx, e.k.sent(acct, jobID), ids...).Result(); serr != nil {
			serr = fmt.Errorf("reading sent states of job %s: %w", jobID, serr)
		}
	}
	wg.Wait()
	if err := errors.Join(ferr, aerr, serr); err != nil {
		return nil, err
	}
	idents := make([]string, len(ids))
	gone := make([]bool, len(ids))
	for i, fv := range fvs {
		gone[i] = !fv.Exists
		idents[i] = identOf(fv.Value, fv.Value != nil, fv.Identities)
	}
	at := make([]int64, len(sent))
	for i, v := range sent {
		if st, ok := v.(string); ok {
			_, at[i] = stateCore(st)
		}
	}
	users := planUsers(cfg, retired, ids, gone, idents, auds, acceptedStates(sent))
	for i, u := range users {
		u.acceptedAt = at[i]
	}
	return users, nil
}

// Reasons a user is omitted (user.omitCode): the preview counts them and
// the per-user trace shows them.
const (
	OmitNoIdentifier = wire.OmitNoIdentifier
	OmitProfileGone  = wire.OmitProfileGone
)

// planUsers decides what to send for each user of ids, from whether its
// profile is gone, its identifier (identValue), the audiences it is in,
// and the state Braze last accepted (sent[i], a string or nil, its
// accepted time stripped). A send and a preview both decide here, so that
// a preview agrees with the run.
func planUsers(cfg Config, retired []string, ids []string, gone []bool, idents []string, auds map[string][]string, sent []any) []*user {
	out := make([]*user, len(ids))
	for i, id := range ids {
		prev, _ := sent[i].(string)
		out[i] = buildUser(cfg, retired, id, gone[i], idents[i], auds[id], prev)
	}
	return out
}

// buildUser decides what a job sends for one user: the one Braze object
// that makes Braze hold the user's membership in the job's audiences (nil
// when nothing is to be sent), and the state to remember once Braze
// accepts it. gone says the profile was deleted or merged away, value is
// its identifier ("" when it has none), memberOf the audiences it is a
// member of (any; only the job's count), prev the state
// Braze last accepted ("" when none) and retired the audiences dropped
// from the job.
//
// The object writes the job's representation (cfg.Mode) and clears the
// one Braze last accepted when it differs (a switch of mode or prefix):
// array slugs are removed, boolean attributes set to null.
//   - array: {"add": member audiences, "remove": the job's others and the
//     retired ones} in cfg.Attribute.
//   - boolean: prefix+slug true for each member audience, false for one
//     the user has left since the last accepted state; attributes written
//     before for audiences no longer in the job are set to null. Falses
//     already written are not written again.
//
// A user whose state equals prev is complete: nothing is sent.
func buildUser(cfg Config, retired []string, id string, gone bool, value string, memberOf []string, prev string) *user {
	u := &user{id: id}
	cands, certain := parseStates(prev)
	var pst sentState // the newest candidate
	if len(cands) > 0 {
		pst = cands[0]
	}
	if gone {
		// Deleted or merged away: remove every audience of the job from
		// the Braze user we last sent, if any, and forget it.
		bid, ok := identFromState(pst.ident, cfg)
		if !ok {
			u.omitted, u.omitCode, u.complete = "profile deleted or merged before it was sent", OmitProfileGone, true
			return u
		}
		obj := braze.Object{ID: bid, Attribute: cfg.Attribute, UpdateExistingOnly: cfg.UpdateExistingOnly}
		for _, c := range cands {
			clearState(&obj, cfg, retired, c)
		}
		u.object, u.removed = finish(u, &obj), len(pst.in)
		return u
	}
	if value == "" {
		u.omitted, u.omitCode, u.complete, u.noIdent = fmt.Sprintf("no value in field %q", cfg.IdentifierField), OmitNoIdentifier, true, true
		return u
	}
	var in []string
	for _, a := range memberOf {
		if slices.Contains(cfg.Audiences, a) {
			in = append(in, a)
		}
	}
	in = sortedUnique(in)
	cur := sentState{ident: string(cfg.IdentifierKind) + "=" + value, in: in}
	bid := braze.Identifier{Kind: cfg.IdentifierKind, Value: value, AliasLabel: cfg.AliasLabel}
	obj := braze.Object{ID: bid, Attribute: cfg.Attribute, UpdateExistingOnly: cfg.UpdateExistingOnly}
	switch cfg.Mode {
	case ModeBoolean:
		cur.boolean, cur.prefix = true, cfg.AttributePrefix
		// Audiences whose attribute (of this prefix) Braze may hold, and
		// whether it is known to hold exactly the one candidate's.
		var same []sentState
		for _, c := range cands {
			switch {
			case c.boolean && c.prefix == cfg.AttributePrefix:
				same = append(same, c)
			case c.boolean || len(c.in) > 0 || !certain:
				// The array may hold some of the job's audiences (a user
				// sent none, or never sent, has nothing to clear).
				clearState(&obj, cfg, retired, c)
			}
		}
		fields := map[string]any{}
		for _, a := range in {
			fields[cfg.BooleanAttribute(a)] = true
		}
		if certain && len(same) == 1 {
			// Known: false for the audiences left since; falses already
			// written are kept, not rewritten; attributes of audiences no
			// longer the job's are removed.
			for _, a := range pst.in {
				switch {
				case slices.Contains(in, a):
				case slices.Contains(cfg.Audiences, a):
					fields[cfg.BooleanAttribute(a)] = false
					cur.out = append(cur.out, a)
				default:
					fields[cfg.BooleanAttribute(a)] = nil
				}
			}
			for _, a := range pst.out {
				switch {
				case slices.Contains(in, a):
				case slices.Contains(cfg.Audiences, a):
					cur.out = append(cur.out, a)
				default:
					fields[cfg.BooleanAttribute(a)] = nil
				}
			}
		} else {
			// Not known exactly (a batch that lost its lease was
			// accepted, or a switch from array mode): every audience any
			// candidate names is written again.
			for _, c := range same {
				for _, a := range append(slices.Clone(c.in), c.out...) {
					switch {
					case slices.Contains(in, a):
					case slices.Contains(cfg.Audiences, a):
						fields[cfg.BooleanAttribute(a)] = false
						cur.out = append(cur.out, a)
					default:
						fields[cfg.BooleanAttribute(a)] = nil
					}
				}
			}
			for _, c := range cands {
				if c.boolean && c.prefix == cfg.AttributePrefix {
					continue
				}
				// Left since an array-mode state: false, as a user leaving.
				for _, a := range c.in {
					if !slices.Contains(in, a) && slices.Contains(cfg.Audiences, a) {
						fields[cfg.BooleanAttribute(a)] = false
						cur.out = append(cur.out, a)
					}
				}
			}
		}
		cur.out = sortedUnique(cur.out)
		for k, v := range fields {
			if obj.Fields == nil {
				obj.Fields = map[string]any{}
			}
			if _, set := obj.Fields[k]; !set || v != nil {
				obj.Fields[k] = v
			}
		}
	default:
		for _, c := range cands {
			if c.boolean {
				clearState(&obj, cfg, retired, c)
			}
		}
		var out []string
		for _, a := range cfg.Audiences {
			if !slices.Contains(in, a) {
				out = append(out, a)
			}
		}
		obj.Add, obj.Remove = in, sortedUnique(append(out, retired...))
	}
	u.state = cur.String()
	if prev == u.state {
		u.complete = true
		return u
	}
	if obj.Add == nil && obj.Remove == nil && len(obj.Fields) == 0 {
		// Nothing to write (a first state without membership): an object
		// of only an identifier would create an empty Braze user.
		u.state, u.complete = "", true
		return u
	}
	u.object = finish(u, &obj)
	for _, a := range in {
		if !slices.Contains(pst.in, a) {
			u.added++
		}
	}
	for _, a := range pst.in {
		if !slices.Contains(in, a) {
			u.removed++
		}
	}
	return u
}

// clearState makes obj remove the representation st says Braze holds: the
// job's audiences (and retired ones) from the array, or null for each
// boolean attribute written.
func clearState(obj *braze.Object, cfg Config, retired []string, st sentState) {
	if !st.boolean {
		obj.Remove = sortedUnique(append(slices.Clone(cfg.Audiences), retired...))
		return
	}
	if obj.Fields == nil {
		obj.Fields = map[string]any{}
	}
	for _, a := range append(slices.Clone(st.in), st.out...) {
		obj.Fields[st.prefix+a] = nil
	}
}

// finish counts the data points obj writes into u and returns obj.
func finish(u *user, obj *braze.Object) *braze.Object {
	u.dataPoints = ObjectDataPoints(*obj)
	return obj
}

// ObjectDataPoints is the number of attributes an object writes (the array
// attribute counting once, each other field once, null included): what
// Braze bills as data points.
func ObjectDataPoints(o braze.Object) int {
	n := len(o.Fields)
	if len(o.Add) > 0 || len(o.Remove) > 0 {
		n++
	}
	return n
}
