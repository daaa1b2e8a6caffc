package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/config"
	"github.com/brazesync/brazesync/internal/secrets"
	"github.com/brazesync/brazesync/internal/sftpd"
)

const adminUsage = `Usage:
  brazesync admin create-account ID [NAME]
  brazesync admin create-token [--expires 720h] [--description TEXT] ACCOUNT NAME SCOPE[,SCOPE]
  brazesync admin list-accounts
  brazesync admin migrate-profiles
      rewrite profiles that an earlier build stored as hashes into the
      one-string form (safe to run again, and while brazesync runs)
  brazesync admin migrate-audiences
      move audience membership that an earlier build kept in sorted sets
      into member bitmaps (safe to run again; run it with every brazesync
      process stopped, before starting this build)
  brazesync admin migrate-index
      move the identity index that an earlier build kept in one hash per
      account into one hash per identity field (safe to run again; run it
      with every brazesync process stopped, before starting this build,
      which refuses to write profiles of an account until then)
  brazesync admin reseal
      seal every stored secret again with the first BRAZESYNC_MASTER_KEY
      (authorizations of every account, the managed SFTP host key), so that
      the keys after it can be retired; it also binds secrets that an
      earlier build sealed to their authorization's destination
`

// runAdmin is offline bootstrap straight against Redis.
func runAdmin(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{"admin needs a command\n" + adminUsage}
	}
	cfg, err := load(getenv, config.Production)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, newLogger(cfg.LogLevel))
	if err != nil {
		return err
	}
	defer a.close()
	switch args[0] {
	case "create-account":
		if len(args) < 2 || len(args) > 3 {
			return &usageError{adminUsage}
		}
		name := ""
		if len(args) == 3 {
			name = args[2]
		}
		acct, err := a.accounts.Create(ctx, args[1], name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s (%s) created\n", acct.ID, acct.Name)
	case "create-token":
		fs := flag.NewFlagSet("create-token", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (default: no expiry)")
		desc := fs.String("description", "", "description")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 3 {
			return &usageError{adminUsage}
		}
		nt := accounts.NewToken{Name: fs.Arg(1), Description: *desc, Scopes: strings.Split(fs.Arg(2), ",")}
		if *expires > 0 {
			t := time.Now().Add(*expires).UTC()
			nt.ExpiresAt = &t
		}
		tok, secret, err := a.accounts.CreateToken(ctx, fs.Arg(0), nt)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s for account %s, scopes %s (shown once, keep it):\n%s\n", tok.ID, tok.Account, strings.Join(tok.Scopes, ","), secret)
	case "list-accounts":
		list, err := a.accounts.List(ctx)
		if err != nil {
			return err
		}
		for _, acct := range list {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", acct.ID, acct.Name, acct.CreatedAt.Format(time.RFC3339))
		}
	case "migrate-profiles":
		if len(args) != 1 {
			return &usageError{adminUsage}
		}
		return a.migrate(ctx, stdout, "profiles rewritten", a.profiles.MigrateHashProfiles)
	case "migrate-audiences":
		if len(args) != 1 {
			return &usageError{adminUsage}
		}
		return a.migrate(ctx, stdout, "audience memberships moved", a.audiences.MigrateMemberSets)
	case "migrate-index":
		if len(args) != 1 {
			return &usageError{adminUsage}
		}
		return a.migrate(ctx, stdout, "identity index entries moved", a.profiles.MigrateIndex)
	case "reseal":
		if len(args) != 1 {
			return &usageError{adminUsage}
		}
		return a.reseal(ctx, stdout)
	default:
		return &usageError{fmt.Sprintf("unknown admin command %q\n%s", args[0], adminUsage)}
	}
	return nil
}

// reseal seals every secret at rest again with the current sealing key.
func (a *app) reseal(ctx context.Context, stdout io.Writer) error {
	total, accounts, err := a.eachAccount(ctx, func(id string) (int, error) {
		n, err := a.auths.Reseal(ctx, id)
		if err != nil {
			return n, fmt.Errorf("resealing authorizations of account %s: %w", id, err)
		}
		return n, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "authorizations resealed: %d (in %d accounts)\n", total, accounts)
	found, err := sftpd.ResealHostKey(ctx, a.rdb, a.ns, secrets.Purpose{Box: a.box, Purpose: hostKeyPurpose})
	if err != nil {
		return err
	}
	if found {
		fmt.Fprintln(stdout, "managed SFTP host key resealed")
	}
	fmt.Fprintf(stdout, "every secret is sealed with key %s; keys after the first can be retired\n", a.box.SealingKeyID())
	return nil
}

// migrate runs a per-account migration over every account and prints what
// it counted under label.
func (a *app) migrate(ctx context.Context, stdout io.Writer, label string, fn func(ctx context.Context, acct string) (int, error)) error {
	total, accounts, err := a.eachAccount(ctx, func(id string) (int, error) { return fn(ctx, id) })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d (in %d accounts)\n", label, total, accounts)
	return nil
}

// eachAccount runs fn for every account and sums what it counts.
func (a *app) eachAccount(ctx context.Context, fn func(id string) (int, error)) (total, accounts int, err error) {
	list, err := a.accounts.List(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, acct := range list {
		n, err := fn(acct.ID)
		if err != nil {
			return total, len(list), err
		}
		total += n
	}
	return total, len(list), nil
}
