package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/wire"
	"github.com/redis/go-redis/v9"
)

// maxUserErrors bounds how many users' Braze rejections a job keeps;
// maxUserErrorLen bounds one message.
const (
	maxUserErrors   = 10_000
	maxUserErrorLen = 500
)

// storedUserError is how a job keeps Braze's message about one user's
// object.
type storedUserError struct {
	Message string `json:"m"`
	At      int64  `json:"t"` // ms
}

// recordRejected keeps Braze's message for each user whose object it
// rejected (profile id -> message), bounded by maxUserErrors per job.
func (e *Engine) recordRejected(ctx context.Context, acct, jobID string, rejected map[string]string) error {
	if len(rejected) == 0 {
		return nil
	}
	now := e.nowMS()
	args := make([]any, 0, 1+2*len(rejected))
	args = append(args, maxUserErrors)
	for id, msg := range rejected {
		if len(msg) > maxUserErrorLen {
			msg = msg[:maxUserErrorLen]
		}
		b, err := json.Marshal(storedUserError{Message: msg, At: now})
		if err != nil {
			return fmt.Errorf("encoding Braze's rejection of a user of job %s: %w", jobID, err)
		}
		args = append(args, id, string(b))
	}
	if err := userErrorsScript.Run(context.WithoutCancel(ctx), e.rdb, []string{e.k.errors(acct, jobID)}, args...).Err(); err != nil {
		return fmt.Errorf("recording Braze's rejections of %d users of job %s: %w", len(rejected), jobID, err)
	}
	return nil
}

// UserTrace is where one user stands in an export job (the API's
// document).
type UserTrace = wire.ExportUserTrace

// TraceUser tells where the profile stands in job j: its audiences now,
// what Braze accepted, whether it waits, why it is omitted, and Braze's
// last message about it.
func (e *Engine) TraceUser(ctx context.Context, j *jobs.Job, profileID string) (*UserTrace, error) {
	cfg, err := ParseConfig(j.Config)
	if err != nil {
		return nil, err
	}
	acct, jobID := j.Account, j.ID
	retired, err := e.retired(ctx, acct, jobID)
	if err != nil {
		return nil, err
	}
	pipe := e.rdb.Pipeline()
	sentCmd := pipe.HGet(ctx, e.k.sent(acct, jobID), profileID)
	dirtyCmd := pipe.ZScore(ctx, e.k.dirty(acct, jobID), profileID)
	leaseCmd := pipe.ZScore(ctx, e.k.inflight(acct, jobID), profileID)
	errCmd := pipe.HGet(ctx, e.k.errors(acct, jobID), profileID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading the export state of profile %s in job %s: %w", profileID, jobID, err)
	}
	t := &UserTrace{ProfileID: profileID, AudiencesIn: []string{}}
	prev, acceptedMS := stateCore(sentCmd.Val())
	if cands, _ := parseStates(prev); len(cands) > 0 {
		// The newest candidate, when a batch that lost its lease left the
		// state uncertain.
		t.Accepted = &wire.ExportAccepted{Identifier: cands[0].ident, Audiences: cands[0].in, At: msTime(acceptedMS)}
		if t.Accepted.Audiences == nil {
			t.Accepted.Audiences = []string{}
		}
	}
	switch {
	case leaseCmd.Err() == nil:
		t.Pending = &wire.ExportPending{State: "leased", LeaseEnds: msTime(int64(leaseCmd.Val()))}
	case dirtyCmd.Err() == nil:
		t.Pending = &wire.ExportPending{State: "waiting", Since: msTime(int64(dirtyCmd.Val()))}
	}
	if s := errCmd.Val(); s != "" {
		var ue storedUserError
		if err := json.Unmarshal([]byte(s), &ue); err != nil {
			return nil, fmt.Errorf("reading Braze's last rejection of profile %s in job %s: %w", profileID, jobID, err)
		}
		if ue.At >= acceptedMS {
			t.LastError = &wire.ExportUserError{Message: ue.Message, At: time.UnixMilli(ue.At).UTC()}
		}
	}
	ids := []string{profileID}
	ps, err := e.prof.GetMany(ctx, acct, ids)
	if err != nil {
		return nil, err
	}
	auds, err := e.aud.ProfilesAudiences(ctx, acct, ids)
	if err != nil {
		return nil, err
	}
	for _, a := range auds[profileID] {
		if contains(cfg.Audiences, a) {
			t.AudiencesIn = append(t.AudiencesIn, a)
		}
	}
	var sent any
	if prev != "" {
		sent = prev
	}
	ident := ""
	if ps[0] != nil {
		ident = identValue(ps[0], cfg.IdentifierField)
	}
	u := planUsers(cfg, retired, ids, []bool{ps[0] == nil}, []string{ident}, auds, []any{sent})[0]
	switch {
	case u.omitCode != "":
		t.Next = "omitted"
		t.OmittedReason = &wire.ExportOmittedReason{Code: u.omitCode, Message: u.omitted}
	case u.complete:
		t.Next = "unchanged"
	default:
		t.Next = "send"
	}
	return t, nil
}

func msTime(ms int64) *time.Time {
	if ms <= 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}
