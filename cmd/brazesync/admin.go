package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/brazesync/brazesync/internal/accounts"
	"github.com/brazesync/brazesync/internal/cli"
	"github.com/brazesync/brazesync/internal/notify"
	"github.com/brazesync/brazesync/internal/sftpd"
)

// adminCommands are the subcommands of `brazesync admin`. Each checks its
// arguments, then connects.
func adminCommands(getenv func(string) string, stdout io.Writer) []*cli.Command {
	// withApp connects and runs f.
	withApp := func(ctx context.Context, f func(a *app) error) error {
		a, err := openApp(ctx, getenv)
		if err != nil {
			return err
		}
		defer a.close()
		return f(a)
	}
	// migration is a subcommand without arguments that runs fn on every
	// account and prints what it counted under label.
	migration := func(name, summary, usage, label string, fn func(a *app) func(ctx context.Context, acct string) (int, error)) *cli.Command {
		return &cli.Command{Name: name, Summary: summary, Usage: usage, Run: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("takes no arguments (got %q)", args[0])
			}
			return withApp(ctx, func(a *app) error { return a.migrate(ctx, stdout, label, fn(a)) })
		}}
	}
	tokenFlags := func() (*flag.FlagSet, *time.Duration, *string) {
		fs := flag.NewFlagSet("create-token", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		expires := fs.Duration("expires", 0, "lifetime of the token, e.g. 720h (default: no expiry)")
		desc := fs.String("description", "", "what the token is for")
		return fs, expires, desc
	}
	fs, _, _ := tokenFlags()
	return []*cli.Command{
		{Name: "create-account", Summary: "create an account", Usage: createAccountUsage,
			Run: func(ctx context.Context, args []string) error {
				if len(args) < 1 || len(args) > 2 {
					return cli.Usagef("takes an account ID and an optional NAME")
				}
				if !accounts.ValidID(args[0]) {
					return cli.Usagef("%q is not an account ID: 1-63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit", args[0])
				}
				name := ""
				if len(args) == 2 {
					name = args[1]
				}
				return withApp(ctx, func(a *app) error {
					acct, err := a.accounts.Create(ctx, args[0], name)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(stdout, "account %s (%s) created\n", acct.ID, acct.Name)
					return err
				})
			}},
		{Name: "create-token", Summary: "create an API token of an account (shown once)", Usage: createTokenUsage + flagDefaults(fs),
			Run: func(ctx context.Context, args []string) error {
				fs, expires, desc := tokenFlags()
				if err := fs.Parse(args); err != nil {
					return cli.Usagef("%v", err)
				}
				if fs.NArg() != 3 {
					return cli.Usagef("takes ACCOUNT, NAME and SCOPE[,SCOPE] after the flags")
				}
				nt := accounts.NewToken{Name: fs.Arg(1), Description: *desc, Scopes: strings.Split(fs.Arg(2), ",")}
				if *expires > 0 {
					t := time.Now().Add(*expires).UTC()
					nt.ExpiresAt = &t
				}
				return withApp(ctx, func(a *app) error {
					tok, secret, err := a.accounts.CreateToken(ctx, fs.Arg(0), nt)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(stdout, "token %s for account %s, scopes %s (shown once, keep it):\n%s\n", tok.ID, tok.Account, strings.Join(tok.Scopes, ","), secret)
					return err
				})
			}},
		{Name: "list-accounts", Summary: "list the accounts (ID, name, creation time)", Usage: listAccountsUsage,
			Run: func(ctx context.Context, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("takes no arguments (got %q)", args[0])
				}
				return withApp(ctx, func(a *app) error {
					list, err := a.accounts.List(ctx)
					if err != nil {
						return err
					}
					for _, acct := range list {
						if _, err := fmt.Fprintf(stdout, "%s\t%s\t%s\n", acct.ID, acct.Name, acct.CreatedAt.Format(time.RFC3339)); err != nil {
							return err
						}
					}
					return nil
				})
			}},
		migration("migrate-profiles", "rewrite profiles stored as hashes into the one-string form", migrateProfilesUsage,
			"profiles rewritten", func(a *app) func(context.Context, string) (int, error) { return a.profiles.MigrateHashProfiles }),
		migration("migrate-audiences", "move audience memberships from sorted sets into member bitmaps", migrateAudiencesUsage,
			"audience memberships moved", func(a *app) func(context.Context, string) (int, error) { return a.audiences.MigrateMemberSets }),
		migration("migrate-index", "move the identity index into one hash per identity field", migrateIndexUsage,
			"identity index entries moved", func(a *app) func(context.Context, string) (int, error) { return a.profiles.MigrateIndex }),
		{Name: "reseal", Summary: "seal every stored secret again with the first BRAZESYNC_MASTER_KEY", Usage: resealUsage,
			Run: func(ctx context.Context, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("takes no arguments (got %q)", args[0])
				}
				return withApp(ctx, func(a *app) error { return a.reseal(ctx, stdout) })
			}},
	}
}

// flagDefaults lists the flags of fs the way flag.PrintDefaults does.
func flagDefaults(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
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
	total, accounts, err = a.eachAccount(ctx, func(id string) (int, error) {
		n, err := notify.Reseal(ctx, a.jobs, a.box, id)
		if err != nil {
			return n, fmt.Errorf("resealing notify secrets of account %s: %w", id, err)
		}
		return n, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "job notify secrets resealed: %d (in %d accounts)\n", total, accounts)
	found, err := sftpd.ResealHostKey(ctx, a.rdb, a.ns, sftpd.HostKeySealer(a.box))
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
