package importjob_test

import (
	"testing"

	"github.com/brazesync/brazesync/internal/importjob"
	"github.com/brazesync/brazesync/internal/jobs"
	"github.com/brazesync/brazesync/internal/jobtype"
	"github.com/brazesync/brazesync/tasks"
)

// TestUploadTakenByJob: the registered upload rule takes a file uploaded
// to the job's folder (else the authorization's, else the root) whose name
// the job selects; a config that cannot be parsed takes every upload.
func TestUploadTakenByJob(t *testing.T) {
	t.Parallel()
	typ := importjob.New(nil, nil, nil, nil, nil, importjob.Options{}).JobType()
	if _, err := jobtype.NewRegistry(typ); err != nil || typ.Name != importjob.TypeName || typ.Queue != tasks.QueueImport || typ.TakesUpload == nil {
		t.Fatalf("registration %+v: %v", typ, err)
	}
	cases := []struct {
		cfg        map[string]any
		authFolder string
		path       string
		want       bool
	}{
		{map[string]any{"pattern": "*.csv"}, "/in", "/in/users.csv", true},
		{map[string]any{"pattern": "*.csv"}, "/in", "/users.csv", false},
		{map[string]any{"pattern": "*.csv", "folder": "/"}, "/in", "/users.csv", true},
		{map[string]any{"pattern": "*.csv"}, "/", "/users.csv", true},
		{map[string]any{"pattern": "*.csv"}, "", "/users.csv", true},
		{map[string]any{"pattern": "*.csv"}, "/", "/users.txt", false},
		{map[string]any{"pattern": "*.csv"}, "/", "/sub/users.csv", false},
		{map[string]any{"pattern": "*.csv", "folder": "exports"}, "/", "/exports/users.csv", true},
		{map[string]any{"pattern": "*.csv", "folder": "/exports/"}, "/", "/exports/users.csv", true},
		{map[string]any{"pattern": "*.csv", "folder": "./exports"}, "/", "/users.csv", false},
		{map[string]any{"file": "users.csv"}, "/", "/users.csv", true},
		{map[string]any{"pattern": 42}, "/", "/anything", true},
	}
	for _, c := range cases {
		if got := typ.TakesUpload(&jobs.Job{Config: c.cfg}, c.authFolder, c.path); got != c.want {
			t.Errorf("TakesUpload(%v, %q, %q) = %v, want %v", c.cfg, c.authFolder, c.path, got, c.want)
		}
	}
}
