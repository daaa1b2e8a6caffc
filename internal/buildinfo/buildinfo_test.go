package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	rev := "4946bd6c0123456789abcdef0123456789abcdef"
	cases := []struct {
		version  string
		settings map[string]string
		want     string
	}{
		{"(devel)", map[string]string{"vcs": "git", "vcs.revision": rev, "vcs.modified": "false"}, "(devel) revision " + rev + " (clean)"},
		{"v1.4.0", map[string]string{"vcs.revision": rev, "vcs.modified": "true"}, "v1.4.0 revision " + rev + " (modified)"},
		{"v1.4.0", map[string]string{"vcs.revision": rev}, "v1.4.0 revision " + rev + " (modification unknown)"},
		{"(devel)", nil, "(devel) revision unknown (built without VCS information)"},
		{"", nil, "unknown revision unknown (built without VCS information)"},
	}
	for _, c := range cases {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/brazesync/brazesync", Version: c.version}}
		for k, v := range c.settings {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
		}
		if got := Describe(bi); got != c.want {
			t.Errorf("Describe(%q, %v) = %q, want %q", c.version, c.settings, got, c.want)
		}
	}
}
