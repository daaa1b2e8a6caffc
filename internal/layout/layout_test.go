package layout_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/brazesync/brazesync/"

// imports returns the module-internal imports of every package's non-test
// files, by package directory relative to the module root.
func imports(t *testing.T) map[string]map[string]bool {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s: %v", root, err)
	}
	out := map[string]map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if out[dir] == nil {
			out[dir] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok {
				out[dir][rest] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found %d packages; the walk missed the module", len(out))
	}
	return out
}

func under(pkg, prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }

// TestPackageMap holds the import rules of docs/architecture.md.
func TestPackageMap(t *testing.T) {
	t.Parallel()
	// Job type packages: the generic layers reach them only through the
	// registry (internal/jobtype).
	jobTypes := []string{"internal/export", "internal/importjob"}
	layers := map[string]bool{"api": true, "workers": true, "scheduler": true}
	for pkg, deps := range imports(t) {
		for dep := range deps {
			switch {
			case layers[pkg] && layers[dep]:
				t.Errorf("%s imports %s: api, workers and scheduler do not import each other", pkg, dep)
			case under(pkg, "internal") && (under(dep, "api") || under(dep, "workers") || under(dep, "scheduler") || under(dep, "cmd")):
				t.Errorf("%s imports %s: nothing in internal/ imports api, workers, scheduler or cmd", pkg, dep)
			case pkg == "tasks" && dep != "":
				t.Errorf("tasks imports %s: the task contract depends on Asynq only", dep)
			case (pkg == "api" || pkg == "workers" || pkg == "scheduler" || pkg == "internal/jobtype") && (dep == jobTypes[0] || dep == jobTypes[1]):
				t.Errorf("%s imports the job type package %s: generic code reaches job types through internal/jobtype", pkg, dep)
			case under(dep, "internal/testutil") && !under(pkg, "internal/testutil"):
				t.Errorf("%s imports the test helper %s outside tests", pkg, dep)
			case pkg == "wire" || pkg == "internal/metric" || pkg == "internal/fault" || pkg == "internal/config" || pkg == "internal/keyspace" || pkg == "internal/redislock" || pkg == "internal/redisjson":
				t.Errorf("%s imports %s: it is a leaf every package may use", pkg, dep)
			}
		}
	}
}
