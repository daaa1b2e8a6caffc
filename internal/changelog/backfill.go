package changelog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// MemberSource lists the current members of an audience in pages.
// *audiences.Service implements it. Members returns up to count profile ids
// after cursor ("" for the first page) in a stable order, and the cursor of
// the next page, "" after the last one.
type MemberSource interface {
	Members(ctx context.Context, acct, audience, cursor string, count int) (ids []string, next string, err error)
}

// Member is one current member found by Backfill.
type Member struct {
	Audience  string
	ProfileID string
}

// Backfill returns the next page of current members of the audiences, walked
// one audience after another, and the cursor of the following page. Start
// with cursor "" and call again with the returned cursor until done; pass the
// same audiences, in the same order, every time. The cursor is a plain string
// that the caller stores wherever it keeps its progress, so a backfill
// resumes after a crash. A page may hold fewer than count members, even none,
// when it crosses from one audience to the next.
//
// Members are read live: a profile that enters or leaves an audience during
// the backfill may be reported or missed, but that change is also in the log
// after the position the consumer took when it was created, so a consumer
// that backfills and then reads the log from that position ends with the
// right membership.
func Backfill(ctx context.Context, src MemberSource, acct string, audiences []string, cursor string, count int) (members []Member, next string, done bool, err error) {
	idx, inner := 0, ""
	if cursor != "" {
		i, rest, ok := strings.Cut(cursor, ":")
		n, convErr := strconv.Atoi(i)
		if !ok || convErr != nil || n < 0 {
			return nil, "", false, fmt.Errorf("changelog: bad backfill cursor %q", cursor)
		}
		idx, inner = n, rest
	}
	if idx >= len(audiences) {
		return nil, "", true, nil
	}
	aud := audiences[idx]
	ids, nxt, err := src.Members(ctx, acct, aud, inner, count)
	if err != nil {
		return nil, "", false, fmt.Errorf("backfilling members of audience %q of account %q: %w", aud, acct, err)
	}
	members = make([]Member, 0, len(ids))
	for _, id := range ids {
		members = append(members, Member{Audience: aud, ProfileID: id})
	}
	if nxt != "" {
		return members, strconv.Itoa(idx) + ":" + nxt, false, nil
	}
	if idx+1 >= len(audiences) {
		return members, "", true, nil
	}
	return members, strconv.Itoa(idx+1) + ":", false, nil
}
