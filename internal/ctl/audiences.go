package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/brazesync/brazesync/client"
	"github.com/brazesync/brazesync/internal/cli"
)

func (e *env) audiencesCommand() *cli.Command {
	return &cli.Command{Name: "audiences", Summary: "rule and list audiences and their members", Usage: audiencesUsage,
		Commands: []*cli.Command{
			{Name: "list", Summary: "list the audiences with their sizes", Usage: audiencesListUsage, Run: e.audiencesList},
			{Name: "create", Summary: "create a list or rule audience", Usage: audiencesCreateUsage, Run: e.audiencesCreate},
			{Name: "show", Summary: "show an audience", Usage: audiencesShowUsage, Run: e.audiencesShow},
			{Name: "members", Summary: "list an audience's members, or add and remove them", Usage: audiencesMembersUsage, Run: e.audiencesMembers},
		}}
}

func (e *env) audiencesList(ctx context.Context, args []string) error {
	f := newFlags("audiences list", true)
	return listAll(ctx, e, f, args, (*client.Client).ListAudiences, func(w io.Writer, list []client.Audience) {
		row(w, "SLUG", "KIND", "NAME", "SIZE", "BUILT-IN")
		for _, a := range list {
			row(w, a.Slug, a.Kind, orDash(a.Name), a.Size, a.Builtin)
		}
	})
}

func (e *env) audiencesCreate(ctx context.Context, args []string) error {
	f := newFlags("audiences create", true)
	name := f.fs.String("name", "", "")
	desc := f.fs.String("description", "", "")
	kind := f.fs.String("kind", "", "")
	ruleText := f.fs.String("rule", "", "")
	ruleFile := f.fs.String("rule-file", "", "")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	in := client.AudienceInput{Slug: pos[0], Name: *name, Description: *desc, Kind: *kind}
	switch {
	case *ruleText != "" && *ruleFile != "":
		return cli.Usagef("give --rule or --rule-file, not both")
	case *ruleText != "":
		in.Rule = &client.Rule{}
		dec := json.NewDecoder(strings.NewReader(*ruleText))
		dec.DisallowUnknownFields()
		if err := dec.Decode(in.Rule); err != nil {
			return cli.Usagef("--rule: not a rule: %v", err)
		}
	case *ruleFile != "":
		in.Rule = &client.Rule{}
		if err := e.readDocument(*ruleFile, in.Rule); err != nil {
			return err
		}
	}
	if in.Kind == "" {
		in.Kind = client.AudienceKindList
		if in.Rule != nil {
			in.Kind = client.AudienceKindRule
		}
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	a, err := c.CreateAudience(ctx, acct, in)
	if err != nil {
		return err
	}
	return e.print(f, a, func(w io.Writer) { audienceTable(w, a) })
}

func (e *env) audiencesShow(ctx context.Context, args []string) error {
	return showOne(ctx, e, newFlags("audiences show", true), args, (*client.Client).GetAudience, audienceTable)
}

func audienceTable(w io.Writer, a *client.Audience) {
	row(w, "slug", a.Slug)
	row(w, "kind", a.Kind)
	row(w, "name", orDash(a.Name))
	if a.Description != "" {
		row(w, "description", a.Description)
	}
	if a.Rule != nil {
		b, _ := json.Marshal(a.Rule)
		row(w, "rule", string(b))
	}
	row(w, "size", a.Size)
	row(w, "built-in", a.Builtin)
	if r := a.Reevaluation; r != nil {
		row(w, "re-evaluation", fmt.Sprintf("%s: %d scanned, %d entered, %d exited", r.State, r.Scanned, r.Entered, r.Exited))
	}
	row(w, "created", when(&a.CreatedAt))
	row(w, "updated", when(&a.UpdatedAt))
}

func (e *env) audiencesMembers(ctx context.Context, args []string) error {
	f := newFlags("audiences members", true)
	var add, remove kvList
	f.fs.Var(&add, "add", "")
	f.fs.Var(&remove, "remove", "")
	cursor := f.fs.String("cursor", "", "")
	limit := f.fs.Int("limit", 0, "")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if (len(add) > 0 || len(remove) > 0) && (*cursor != "" || *limit != 0) {
		return cli.Usagef("--cursor and --limit page through the members; they do not go with --add or --remove")
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	if len(add) > 0 || len(remove) > 0 {
		counts, err := c.UpdateAudienceMembers(ctx, acct, pos[0], client.MembersInput{Add: identities(add), Remove: identities(remove)})
		if err != nil {
			return err
		}
		return e.print(f, counts, func(w io.Writer) {
			row(w, "ADDED", "REMOVED", "UNCHANGED", "CREATED", "NOT FOUND", "REJECTED")
			row(w, counts.Added, counts.Removed, counts.Unchanged, counts.Created, counts.NotFound, len(counts.Rejected))
			for _, r := range counts.Rejected {
				fmt.Fprintf(w, "rejected #%d: %s\n", r.Index, r.Reason)
			}
		})
	}
	page, err := c.ListAudienceMembers(ctx, acct, pos[0], &client.MembersOptions{Cursor: *cursor, Limit: *limit})
	if err != nil {
		return err
	}
	return e.print(f, page, func(w io.Writer) {
		row(w, "PROFILE")
		for _, id := range page.Data {
			row(w, id)
		}
		if page.NextCursor != "" {
			fmt.Fprintf(w, "(%d members; next page: --cursor %s)\n", page.Size, page.NextCursor)
		}
	})
}

// identities turns FIELD=VALUE pairs into identities.
func identities(l kvList) []client.Identity {
	var out []client.Identity
	for _, kv := range l {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, client.Identity{k: v})
	}
	return out
}
