package ctl

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/brazesync/brazesync/client"
	"github.com/brazesync/brazesync/internal/cli"
)

const timeLayout = "2006-01-02 15:04:05Z07:00"

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

func (e *env) accountsCommand() *cli.Command {
	return &cli.Command{Name: "accounts", Summary: "list and create accounts (operator token)", Usage: accountsUsage,
		Commands: []*cli.Command{
			{Name: "list", Summary: "list every account", Usage: accountsListUsage, Run: e.accountsList},
			{Name: "create", Summary: "create an account", Usage: accountsCreateUsage, Run: e.accountsCreate},
		}}
}

func (e *env) accountsList(ctx context.Context, args []string) error {
	f := newFlags("accounts list", false)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	c, _, err := e.client()
	if err != nil {
		return err
	}
	list, err := c.ListAccounts(ctx)
	if err != nil {
		return err
	}
	return e.print(f, list, func(w io.Writer) {
		row(w, "ID", "NAME", "CREATED")
		for _, a := range list {
			row(w, a.ID, a.Name, when(&a.CreatedAt))
		}
	})
}

func (e *env) accountsCreate(ctx context.Context, args []string) error {
	f := newFlags("accounts create", false)
	pos, err := f.parse(args, 1, 2)
	if err != nil {
		return err
	}
	in := client.AccountInput{ID: pos[0]}
	if len(pos) == 2 {
		in.Name = pos[1]
	}
	c, _, err := e.client()
	if err != nil {
		return err
	}
	a, err := c.CreateAccount(ctx, in)
	if err != nil {
		return err
	}
	return e.print(f, a, func(w io.Writer) {
		row(w, "ID", "NAME", "CREATED")
		row(w, a.ID, a.Name, when(&a.CreatedAt))
	})
}

func (e *env) tokensCommand() *cli.Command {
	return &cli.Command{Name: "tokens", Summary: "create, list and revoke the API tokens of an account", Usage: tokensUsage,
		Commands: []*cli.Command{
			{Name: "create", Summary: "create a token (shown once)", Usage: tokensCreateUsage, Run: e.tokensCreate},
			{Name: "list", Summary: "list the tokens, never their secrets", Usage: tokensListUsage, Run: e.tokensList},
			{Name: "revoke", Summary: "revoke a token", Usage: tokensRevokeUsage, Run: e.tokensRevoke},
		}}
}

func (e *env) tokensCreate(ctx context.Context, args []string) error {
	f := newFlags("tokens create", true)
	desc := f.fs.String("description", "", "")
	expires := f.fs.Duration("expires", 0, "")
	pos, err := f.parse(args, 2, 2)
	if err != nil {
		return err
	}
	if *expires < 0 {
		return cli.Usagef("--expires %s: must be positive", *expires)
	}
	in := client.TokenInput{Name: pos[0], Description: *desc, Scopes: strings.Split(pos[1], ",")}
	if *expires > 0 {
		at := time.Now().Add(*expires).UTC().Truncate(time.Second)
		in.ExpiresAt = &at
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	tok, err := c.CreateToken(ctx, acct, in)
	if err != nil {
		return err
	}
	return e.print(f, tok, func(w io.Writer) {
		fmt.Fprintf(w, "token %s of account %s, scopes %s, expires %s (shown once, keep it):\n%s\n",
			tok.ID, tok.Account, strings.Join(tok.Scopes, ","), when(tok.ExpiresAt), tok.Secret)
	})
}

func (e *env) tokensList(ctx context.Context, args []string) error {
	f := newFlags("tokens list", true)
	return listAll(ctx, e, f, args, (*client.Client).ListTokens, func(w io.Writer, list []client.Token) {
		row(w, "ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "REVOKED")
		for _, t := range list {
			row(w, t.ID, t.Name, strings.Join(t.Scopes, ","), when(&t.CreatedAt), when(t.ExpiresAt), when(t.RevokedAt))
		}
	})
}

func (e *env) tokensRevoke(ctx context.Context, args []string) error {
	f := newFlags("tokens revoke", true)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	t, err := c.RevokeToken(ctx, acct, pos[0])
	if err != nil {
		return err
	}
	return e.print(f, t, func(w io.Writer) {
		fmt.Fprintf(w, "token %s (%s) revoked at %s\n", t.ID, t.Name, when(t.RevokedAt))
	})
}

func (e *env) profilesCommand() *cli.Command {
	return &cli.Command{Name: "profiles", Summary: "read profiles", Usage: profilesUsage,
		Commands: []*cli.Command{
			{Name: "get", Summary: "show the profile whose identity FIELD is VALUE", Usage: profilesGetUsage, Run: e.profilesGet},
		}}
}

func (e *env) profilesGet(ctx context.Context, args []string) error {
	f := newFlags("profiles get", true)
	pos, err := f.parse(args, 2, 2)
	if err != nil {
		return err
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	p, err := c.GetProfile(ctx, acct, pos[0], pos[1])
	if err != nil {
		return err
	}
	return e.print(f, p, func(w io.Writer) {
		row(w, "id", p.ID)
		row(w, "first seen", when(&p.FirstSeen))
		row(w, "last seen", when(&p.LastSeen))
		row(w, "audiences", orDash(strings.Join(p.Audiences, ", ")))
		for _, k := range sortedKeys(p.Identities) {
			row(w, "identity "+k, strings.Join(p.Identities[k], ", "))
		}
		for _, k := range sortedKeys(p.Fields) {
			row(w, "field "+k, fmt.Sprint(p.Fields[k]))
		}
	})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
