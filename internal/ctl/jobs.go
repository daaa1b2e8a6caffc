package ctl

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/brazesync/brazesync/client"
	"github.com/brazesync/brazesync/internal/cli"
)

func (e *env) jobsCommand() *cli.Command {
	return &cli.Command{Name: "jobs", Summary: "export and import jobs, their runs, logs and files", Usage: jobsUsage,
		Commands: []*cli.Command{
			{Name: "list", Summary: "list the jobs", Usage: jobsListUsage, Run: e.jobsList},
			{Name: "create", Summary: "create a job from a JSON or YAML file", Usage: jobsCreateUsage, Run: e.jobsCreate},
			{Name: "show", Summary: "show a job with its state, health and newest run", Usage: jobsShowUsage, Run: e.jobAction("show")},
			{Name: "run", Summary: "run a job now", Usage: jobsRunUsage, Run: e.jobAction("run")},
			{Name: "pause", Summary: "pause a job", Usage: jobsPauseUsage, Run: e.jobAction("pause")},
			{Name: "resume", Summary: "resume a job", Usage: jobsResumeUsage, Run: e.jobAction("resume")},
			{Name: "logs", Summary: "a job's log, newest first", Usage: jobsLogsUsage, Run: e.jobsLogs},
			{Name: "runs", Summary: "a job's runs, newest first", Usage: jobsRunsUsage, Run: e.jobsRuns},
			{Name: "files", Summary: "an import job's file ledger", Usage: jobsFilesUsage, Run: e.jobsFiles},
			{Name: "preview", Summary: "what an export job would send, sending nothing", Usage: jobsPreviewUsage, Run: e.jobsPreview},
			{Name: "user", Summary: "where one user stands in an export job", Usage: jobsUserUsage, Run: e.jobsUser},
		}}
}

func (e *env) jobsList(ctx context.Context, args []string) error {
	f := newFlags("jobs list", true)
	deleted := f.fs.Bool("deleted", false, "")
	list := func(c *client.Client, ctx context.Context, acct string) ([]client.Job, error) {
		return c.ListJobs(ctx, acct, &client.ListJobsOptions{Deleted: *deleted})
	}
	return listAll(ctx, e, f, args, list, func(w io.Writer, list []client.Job) {
		row(w, "ID", "TYPE", "LABEL", "STATE", "HEALTH", "SCHEDULE", "LAST RUN")
		for _, j := range list {
			row(w, j.ID, j.Type, orDash(j.Label), j.State, orDash(j.Health), orDash(j.Schedule), lastRun(j.LastRun))
		}
	})
}

func lastRun(r *client.Run) string {
	if r == nil {
		return "-"
	}
	return r.Outcome + " " + when(&r.StartedAt)
}

func (e *env) jobsCreate(ctx context.Context, args []string) error {
	f := newFlags("jobs create", true)
	file := f.fs.String("file", "", "")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return cli.Usagef("--file FILE is required (- reads stdin)")
	}
	var in client.JobInput
	if err := e.readDocument(*file, &in); err != nil {
		return err
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	j, err := c.CreateJob(ctx, acct, in)
	if err != nil {
		return err
	}
	return e.print(f, j, func(w io.Writer) { jobTable(w, j) })
}

// jobAction is show, run, pause or resume of the job named by the argument.
func (e *env) jobAction(action string) func(ctx context.Context, args []string) error {
	return func(ctx context.Context, args []string) error {
		f := newFlags("jobs "+action, true)
		pos, err := f.parse(args, 1, 1)
		if err != nil {
			return err
		}
		c, acct, err := e.accountClient(f)
		if err != nil {
			return err
		}
		call := map[string]func(context.Context, string, string) (*client.Job, error){
			"show": c.GetJob, "run": c.RunJob, "pause": c.PauseJob, "resume": c.ResumeJob,
		}[action]
		j, err := call(ctx, acct, pos[0])
		if err != nil {
			return err
		}
		return e.print(f, j, func(w io.Writer) { jobTable(w, j) })
	}
}

func jobTable(w io.Writer, j *client.Job) {
	row(w, "id", j.ID)
	row(w, "type", j.Type)
	row(w, "label", orDash(j.Label))
	row(w, "state", j.State)
	row(w, "health", orDash(j.Health))
	if j.LastError != nil {
		row(w, "last error", fmt.Sprintf("%s at %s: %s", j.LastError.Code, when(&j.LastError.At), j.LastError.Message))
	}
	row(w, "authorization", j.AuthorizationID)
	row(w, "schedule", orDash(j.Schedule))
	if n := j.Notify; n != nil {
		row(w, "notify", fmt.Sprintf("%s (%s)", n.URL, strings.Join(n.Events, ", ")))
		if n.Secret != "" {
			row(w, "notify secret", n.Secret+" (shown this once: store it)")
		}
	}
	row(w, "version", j.Version)
	if r := j.LastRun; r != nil {
		row(w, "last run", fmt.Sprintf("%s %s (%s), started %s, ended %s", r.ID, r.Outcome, r.Trigger, when(&r.StartedAt), when(r.EndedAt)))
		if c := counters(r.Counters); c != "" {
			row(w, "last run counters", c)
		}
		if r.Error != "" {
			row(w, "last run error", r.Error)
		}
	}
	for _, k := range sortedKeys(j.Progress) {
		row(w, "progress "+k, fmt.Sprint(j.Progress[k]))
	}
	row(w, "created", when(&j.CreatedAt))
	row(w, "updated", when(&j.UpdatedAt))
}

// counters is "a=1 b=2", sorted by name.
func counters(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func (e *env) jobsLogs(ctx context.Context, args []string) error {
	f := newFlags("jobs logs", true)
	limit := f.fs.Int("limit", 0, "")
	get := func(c *client.Client, ctx context.Context, acct, id string) ([]client.LogEntry, error) {
		return c.ListJobLogs(ctx, acct, id, &client.ListOptions{Limit: *limit})
	}
	return showOne(ctx, e, f, args, get, func(w io.Writer, list []client.LogEntry) {
		row(w, "TIME", "LEVEL", "CODE", "MESSAGE")
		for _, l := range list {
			msg := l.Message
			if c := counters(l.Counters); c != "" {
				msg += " [" + c + "]"
			}
			row(w, when(&l.Time), l.Level, l.Code, msg)
		}
	})
}

func (e *env) jobsRuns(ctx context.Context, args []string) error {
	f := newFlags("jobs runs", true)
	limit := f.fs.Int("limit", 0, "")
	get := func(c *client.Client, ctx context.Context, acct, id string) ([]client.Run, error) {
		return c.ListJobRuns(ctx, acct, id, &client.ListOptions{Limit: *limit})
	}
	return showOne(ctx, e, f, args, get, func(w io.Writer, list []client.Run) {
		row(w, "ID", "TRIGGER", "STARTED", "ENDED", "OUTCOME", "COUNTERS", "ERROR")
		for _, r := range list {
			row(w, r.ID, r.Trigger, when(&r.StartedAt), when(r.EndedAt), r.Outcome, orDash(counters(r.Counters)), orDash(r.Error))
		}
	})
}

func (e *env) jobsFiles(ctx context.Context, args []string) error {
	f := newFlags("jobs files", true)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	list, err := c.ListJobFiles(ctx, acct, pos[0])
	if err != nil {
		return err
	}
	return e.print(f, list, func(w io.Writer) {
		row(w, "PATH", "SIZE", "MODIFIED", "STATE", "ROWS", "APPLIED", "UNCHANGED", "REJECTED", "ERROR")
		for _, l := range list {
			row(w, l.Path, l.Size, when(&l.ModTime), l.State, l.RowsRead, l.Applied, l.Unchanged, l.Rejected, orDash(l.Error))
		}
	})
}

// jobsPreview previews an export job's next run (ID), or a job not
// created yet (--file, the body of jobs create).
func (e *env) jobsPreview(ctx context.Context, args []string) error {
	f := newFlags("jobs preview", true)
	file := f.fs.String("file", "", "")
	pos, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if (len(pos) == 1) == (*file != "") {
		return cli.Usagef("give a job ID or --file FILE, not both")
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	var p *client.ExportPreview
	if *file != "" {
		var in client.JobInput
		if err := e.readDocument(*file, &in); err != nil {
			return err
		}
		p, err = c.PreviewNewJob(ctx, acct, in)
	} else {
		p, err = c.PreviewJob(ctx, acct, pos[0])
	}
	if err != nil {
		return err
	}
	return e.print(f, p, func(w io.Writer) {
		row(w, "users to add", p.UsersToAdd)
		row(w, "users to remove", p.UsersToRemove)
		row(w, "users unchanged", p.UsersUnchanged)
		omitted := fmt.Sprint(p.UsersOmitted.Total)
		if c := counters(p.UsersOmitted.Reasons); c != "" {
			omitted += " (" + c + ")"
		}
		row(w, "users omitted", omitted)
		row(w, "objects", p.Objects)
		row(w, "requests", p.Requests)
		row(w, "data points", p.DataPoints)
		row(w, "seconds at rate limit", p.SecondsAtRateLimit)
	})
}

// jobsUser traces one user of an export job.
func (e *env) jobsUser(ctx context.Context, args []string) error {
	f := newFlags("jobs user", true)
	pos, err := f.parse(args, 3, 3)
	if err != nil {
		return err
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	t, err := c.TraceJobUser(ctx, acct, pos[0], pos[1], pos[2])
	if err != nil {
		return err
	}
	return e.print(f, t, func(w io.Writer) {
		row(w, "profile", t.ProfileID)
		row(w, "audiences in", orDash(strings.Join(t.AudiencesIn, ", ")))
		if a := t.Accepted; a != nil {
			row(w, "accepted", fmt.Sprintf("%s [%s] at %s", a.Identifier, strings.Join(a.Audiences, ", "), when(a.At)))
		} else {
			row(w, "accepted", "-")
		}
		switch p := t.Pending; {
		case p == nil:
			row(w, "pending", "-")
		case p.LeaseEnds != nil:
			row(w, "pending", p.State+" until "+when(p.LeaseEnds))
		default:
			row(w, "pending", p.State+" since "+when(p.Since))
		}
		row(w, "next", t.Next)
		if o := t.OmittedReason; o != nil {
			row(w, "omitted", o.Code+": "+o.Message)
		}
		if le := t.LastError; le != nil {
			row(w, "last error", fmt.Sprintf("%s at %s", le.Message, when(&le.At)))
		}
	})
}
