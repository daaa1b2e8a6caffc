package export

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/brazesync/brazesync/internal/authorizations"
	"github.com/brazesync/brazesync/internal/fault"
	"github.com/brazesync/brazesync/internal/jobs"
)

// authorizationReader reads an authorization without opening its secrets
// (authorizations.Store.Get); the engine's Credentials are used otherwise.
type authorizationReader interface {
	Get(ctx context.Context, account, id string) (*authorizations.Authorization, error)
}

func (e *Engine) authorization(ctx context.Context, acct, id string) (*authorizations.Authorization, error) {
	if r, ok := e.creds.(authorizationReader); ok {
		return r.Get(ctx, acct, id)
	}
	a, _, err := e.creds.Credentials(ctx, acct, id)
	return a, err
}

// checkArrayLimit refuses an array-mode job whose audiences, with those of
// the account's other array-mode export jobs into the same authorization
// and attribute, are more than the authorization's max_array_items: Braze
// would keep only the newest that many items of a user's array and drop
// the others without a word.
func (e *Engine) checkArrayLimit(ctx context.Context, j *jobs.Job, c Config) error {
	if c.Mode != ModeArray || j.AuthorizationID == "" || e.creds == nil || e.jobs == nil {
		return nil
	}
	a, err := e.authorization(ctx, j.Account, j.AuthorizationID)
	if err != nil {
		return fmt.Errorf("reading authorization %s: %w", j.AuthorizationID, err)
	}
	limit, err := authorizations.BrazeMaxArrayItems(a)
	if err != nil {
		return fmt.Errorf("authorization %s: %w", j.AuthorizationID, err)
	}
	all, err := e.jobs.List(ctx, j.Account, false)
	if err != nil {
		return err
	}
	distinct := slices.Clone(c.Audiences)
	self := "this job"
	if j.ID != "" {
		self = "this job (" + j.ID + ")"
	}
	names := []string{fmt.Sprintf("%s: %d", self, len(c.Audiences))}
	for _, o := range all {
		if o.ID == j.ID || o.Type != TypeName || o.AuthorizationID != j.AuthorizationID || o.State == jobs.StateDeleted {
			continue
		}
		oc, err := ParseConfig(o.Config)
		if err != nil {
			return fmt.Errorf("reading the config of job %s: %w", o.ID, err)
		}
		if oc.Mode != ModeArray || oc.Attribute != c.Attribute {
			continue
		}
		for _, s := range oc.Audiences {
			if !slices.Contains(distinct, s) {
				distinct = append(distinct, s)
			}
		}
		names = append(names, fmt.Sprintf("%s %q: %d", o.ID, o.Label, len(oc.Audiences)))
	}
	if len(distinct) <= limit {
		return nil
	}
	return &fault.ValidationError{Field: "config.audiences", Message: fmt.Sprintf(
		"%d distinct audiences would be exported into the array attribute %q of authorization %s by %d jobs (%s), more than its max_array_items of %d: "+
			"Braze keeps at most %d items in an array and drops the oldest. Export fewer audiences to this attribute, use attribute_mode \"boolean\" or another attribute, "+
			"or raise the authorization's max_array_items to the workspace's array limit",
		len(distinct), c.Attribute, j.AuthorizationID, len(names), strings.Join(names, "; "), limit, limit)}
}
