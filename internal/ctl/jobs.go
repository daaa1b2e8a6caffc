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
