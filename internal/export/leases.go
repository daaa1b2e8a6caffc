package export

import (
	"context"
	"fmt"
)

// lease is one leased user.
type lease struct {
	id       string
	deadline int64 // ms
}

// maxClaims bounds the claims that fill one batch: users whose state Braze
// already has (a backfill meets a user once per audience) leave room that
// more claims fill, so that requests stay full.
const maxClaims = 8

// maxClaimSize bounds one claim (and so the requests one batch may need).
const maxClaimSize = 600

// claim leases up to n waiting users.
func (e *Engine) claim(ctx context.Context, acct, jobID string, n int) ([]lease, error) {
	now := e.nowMS()
	ids, err := claimScript.Run(ctx, e.rdb, []string{e.k.dirty(acct, jobID), e.k.inflight(acct, jobID)}, now, e.opts.Lease.Milliseconds(), n).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("leasing users of job %s: %w", jobID, err)
	}
	out := make([]lease, len(ids))
	for i, id := range ids {
		out[i] = lease{id: id, deadline: now + e.opts.Lease.Milliseconds()}
	}
	return out, nil
}

// release gives a batch's users back to waiting (its request failed), those
// whose lease is still the batch's. Users it could not release come back
// when their lease ends.
func (e *Engine) release(ctx context.Context, acct, jobID string, leased []lease) error {
	if len(leased) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(leased)+1)
	args = append(args, e.nowMS())
	for _, l := range leased {
		args = append(args, l.id, l.deadline)
	}
	if err := releaseScript.Run(context.WithoutCancel(ctx), e.rdb, []string{e.k.dirty(acct, jobID), e.k.inflight(acct, jobID)}, args...).Err(); err != nil {
		return fmt.Errorf("returning %d users of job %s to waiting: %w", len(leased), jobID, err)
	}
	return nil
}
