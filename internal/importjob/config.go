// Package importjob runs Import CSV jobs: it lists the authorization's SFTP
// folder, picks the files the job names, and imports each new file version
// once through internal/csvimport into profiles, with the ledger, progress,
// counters and log of the job.
package importjob

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/brazesync/brazesync/internal/fault"
)

// Defaults of an Import CSV job.
const (
	StreamDefault       = "braze_users"
	KeepUpdatedSchedule = "@every 15m"
)

// After-import actions.
const (
	AfterLeave  = "leave"
	AfterMove   = "move"
	AfterDelete = "delete"
)

// What becomes of a file that fails (on_failure).
const (
	FailureLeave = "leave"
	FailureMove  = "move"
)

// Config is an Import CSV job's config.
type Config struct {
	Folder string
	// Select picks file names (base names) in Folder: file, pattern or
	// dated_file, less exclude_pattern.
	Select Selector
	// Delimiter: ',', '|', ';', '\t', or 0 to detect.
	Delimiter        rune
	Headers          []string
	Columns          []string
	TimestampColumns []string
	Stream           string
	KeepUpdated      bool
	Diff             bool
	AfterImport      string
	MoveTo           string
	MaxBadRowShare   float64
	// OnFailure is FailureLeave or FailureMove (to FailedFolder).
	OnFailure    string
	FailedFolder string
	// ErrorsFolder, when set, receives <file name>.rejected.csv for each
	// file with rejected rows.
	ErrorsFolder string
}

// ValidationError names the bad config key: the shared
// *fault.ValidationError, which the API answers as 422 invalid.
type ValidationError = fault.ValidationError

var known = []string{"folder", "file", "pattern", "dated_file", "exclude_pattern", "delimiter", "headers", "columns", "timestamp_columns", "stream", "keep_updated", "diff", "after_import", "move_to", "max_bad_row_share", "on_failure", "failed_folder", "errors_folder"}

func strList(m map[string]any, key string) ([]string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	raw, ok := v.([]any)
	if !ok {
		return nil, &ValidationError{Field: "config." + key, Message: "must be a list of strings"}
	}
	out := make([]string, 0, len(raw))
	for i, x := range raw {
		s, ok := x.(string)
		if !ok || s == "" {
			return nil, &ValidationError{Field: fmt.Sprintf("config.%s[%d]", key, i), Message: "must be a non-empty string"}
		}
		out = append(out, s)
	}
	return out, nil
}

func str(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", &ValidationError{Field: "config." + key, Message: "must be a string"}
	}
	return s, nil
}

func boolean(m map[string]any, key string) (bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, &ValidationError{Field: "config." + key, Message: "must be true or false"}
	}
	return b, nil
}

// ParseConfig reads and validates a job config.
func ParseConfig(m map[string]any) (Config, error) {
	c := Config{Stream: StreamDefault, AfterImport: AfterLeave, OnFailure: FailureLeave}
	for k := range m {
		if !slices.Contains(known, k) {
			return c, &ValidationError{Field: "config." + k, Message: fmt.Sprintf("is not a setting of csv_import jobs (settings: %s)", strings.Join(known, ", "))}
		}
	}
	var err error
	if c.Folder, err = str(m, "folder"); err != nil {
		return c, err
	}
	file, err1 := str(m, "file")
	pattern, err2 := str(m, "pattern")
	dated, err3 := str(m, "dated_file")
	if err := firstErr(err1, err2, err3); err != nil {
		return c, err
	}
	n := 0
	for _, s := range []string{file, pattern, dated} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return c, &ValidationError{Field: "config.file", Message: "give exactly one of file (a name), pattern (a glob such as users_*.csv, or a regular expression such as ^users_\\d+\\.csv$) or dated_file (a dated name: that file and every later-dated one)"}
	}
	switch {
	case file != "":
		if strings.Contains(file, "/") {
			return c, &ValidationError{Field: "config.file", Message: "is a file name in the folder, without /"}
		}
		c.Select = exact(file)
	case pattern != "":
		if c.Select, err = patternSelector(pattern); err != nil {
			return c, &ValidationError{Field: "config.pattern", Message: err.Error()}
		}
	default:
		if c.Select, err = datedSelector(dated); err != nil {
			return c, &ValidationError{Field: "config.dated_file", Message: err.Error()}
		}
	}
	if ex, err := str(m, "exclude_pattern"); err != nil {
		return c, err
	} else if ex != "" {
		sel, err := patternSelector(ex)
		if err != nil {
			return c, &ValidationError{Field: "config.exclude_pattern", Message: err.Error()}
		}
		c.Select = excluding{Selector: c.Select, exclude: sel}
	}
	d, err := str(m, "delimiter")
	if err != nil {
		return c, err
	}
	switch d {
	case "", "detect":
	case ",", "|", ";":
		c.Delimiter = rune(d[0])
	case "\t", "tab", `\t`:
		c.Delimiter = '\t'
	default:
		return c, &ValidationError{Field: "config.delimiter", Message: "must be one of , | ; tab (or empty to detect)"}
	}
	if c.Headers, err = strList(m, "headers"); err != nil {
		return c, err
	}
	if c.Columns, err = strList(m, "columns"); err != nil {
		return c, err
	}
	if c.TimestampColumns, err = strList(m, "timestamp_columns"); err != nil {
		return c, err
	}
	if s, err := str(m, "stream"); err != nil {
		return c, err
	} else if s != "" {
		c.Stream = s
	}
	if c.KeepUpdated, err = boolean(m, "keep_updated"); err != nil {
		return c, err
	}
	if c.Diff, err = boolean(m, "diff"); err != nil {
		return c, err
	}
	if a, err := str(m, "after_import"); err != nil {
		return c, err
	} else if a != "" {
		c.AfterImport = a
	}
	if c.MoveTo, err = str(m, "move_to"); err != nil {
		return c, err
	}
	switch c.AfterImport {
	case AfterLeave, AfterDelete:
	case AfterMove:
		if c.MoveTo == "" {
			return c, &ValidationError{Field: "config.move_to", Message: "is required when after_import is move: the folder imported files go to"}
		}
	default:
		return c, &ValidationError{Field: "config.after_import", Message: "must be leave, move or delete"}
	}
	if err := c.parseFailure(m); err != nil {
		return c, err
	}
	if v, ok := m["max_bad_row_share"]; ok {
		f, isNum := v.(float64)
		if !isNum || f < 0 || f > 1 {
			return c, &ValidationError{Field: "config.max_bad_row_share", Message: "must be a number from 0 to 1"}
		}
		c.MaxBadRowShare = f
		if f == 0 {
			c.MaxBadRowShare = -1
		}
	}
	return c, nil
}

// parseFailure reads on_failure, failed_folder and errors_folder. The
// folders a job writes to must not be the folder it reads (it would
// import its own rejected files), when both are known.
func (c *Config) parseFailure(m map[string]any) error {
	var err error
	if f, err := str(m, "on_failure"); err != nil {
		return err
	} else if f != "" {
		c.OnFailure = f
	}
	if c.FailedFolder, err = str(m, "failed_folder"); err != nil {
		return err
	}
	if c.ErrorsFolder, err = str(m, "errors_folder"); err != nil {
		return err
	}
	switch c.OnFailure {
	case FailureLeave:
	case FailureMove:
		if c.FailedFolder == "" {
			return &ValidationError{Field: "config.failed_folder", Message: "is required when on_failure is move: the folder failed files go to"}
		}
	default:
		return &ValidationError{Field: "config.on_failure", Message: "must be leave or move"}
	}
	for _, f := range []struct{ key, v string }{{"failed_folder", c.FailedFolder}, {"errors_folder", c.ErrorsFolder}, {"move_to", c.MoveTo}} {
		if f.v != "" && c.Folder != "" && SameFolder(f.v, c.Folder) {
			return &ValidationError{Field: "config." + f.key, Message: "must be another folder than the one imported from"}
		}
	}
	return nil
}

// SameFolder reports whether two SFTP folders are the same once cleaned
// (relative folders are taken from the session's starting folder).
func SameFolder(a, b string) bool {
	clean := func(p string) string {
		if p == "" {
			p = "."
		}
		return path.Clean(p)
	}
	return clean(a) == clean(b)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Selector picks files by base name and orders them.
type Selector interface {
	Match(name string) bool
	// Less orders matched files for import (oldest data first).
	Less(a, b string) bool
}

type exact string

func (e exact) Match(name string) bool { return name == string(e) }
func (e exact) Less(a, b string) bool  { return a < b }

// excluding is a selection less the names exclude matches.
type excluding struct {
	Selector
	exclude Selector
}

func (e excluding) Match(name string) bool {
	return e.Selector.Match(name) && !e.exclude.Match(name)
}

// exactName returns the file name sel names outright, if it does (its
// exclusion still applies: see Match).
func exactName(sel Selector) (string, bool) {
	if e, ok := sel.(excluding); ok {
		sel = e.Selector
	}
	name, ok := sel.(exact)
	return string(name), ok
}

type globSel string

func (g globSel) Match(name string) bool { ok, _ := path.Match(string(g), name); return ok }
func (g globSel) Less(a, b string) bool  { return a < b }

type regexSel struct{ re *regexp.Regexp }

func (r regexSel) Match(name string) bool { return r.re.MatchString(name) }
func (r regexSel) Less(a, b string) bool  { return a < b }

// patternSelector: a glob unless it looks like a regular expression (starts
// with ^ or ends with $, or is written re:EXPR); a regular expression
// without ^ matches as a prefix, as Lytics' pattern does.
func patternSelector(p string) (Selector, error) {
	if expr, ok := strings.CutPrefix(p, "re:"); ok || strings.HasPrefix(p, "^") || strings.HasSuffix(p, "$") {
		if !ok {
			expr = p
		}
		if !strings.HasPrefix(expr, "^") {
			expr = "^" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("is not a valid regular expression: %v", err)
		}
		return regexSel{re}, nil
	}
	if _, err := path.Match(p, ""); err != nil {
		return nil, fmt.Errorf("is not a valid glob: %v", err)
	}
	return globSel(p), nil
}

var datePattern = regexp.MustCompile(`(\d{4})-?(\d{2})-?(\d{2})`)

type datedSel struct {
	re    *regexp.Regexp
	first string // YYYYMMDD
}

// datedSelector: "users_2026-11-01.csv" matches that file and every file
// of the same shape with a later (or equal) date.
func datedSelector(name string) (Selector, error) {
	loc := datePattern.FindStringSubmatchIndex(name)
	if loc == nil {
		return nil, fmt.Errorf("%q has no date (YYYY-MM-DD or YYYYMMDD) in its name", name)
	}
	dateText := name[loc[0]:loc[1]]
	shape := `\d{4}\d{2}\d{2}`
	if strings.Contains(dateText, "-") {
		shape = `\d{4}-\d{2}-\d{2}`
	}
	expr := "^" + regexp.QuoteMeta(name[:loc[0]]) + "(" + shape + ")" + regexp.QuoteMeta(name[loc[1]:]) + "$"
	return datedSel{re: regexp.MustCompile(expr), first: strings.ReplaceAll(dateText, "-", "")}, nil
}

func (d datedSel) date(name string) string {
	m := d.re.FindStringSubmatch(name)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "-", "")
}

func (d datedSel) Match(name string) bool {
	dt := d.date(name)
	return dt != "" && dt >= d.first
}

func (d datedSel) Less(a, b string) bool { return d.date(a) < d.date(b) }
