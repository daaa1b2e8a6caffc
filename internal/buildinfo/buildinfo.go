// Package buildinfo describes the running binary from what the Go
// toolchain stamped into it: the module version, the VCS revision and
// whether the working tree had uncommitted changes.
package buildinfo

import "runtime/debug"

// Read describes the running binary (see Describe).
func Read() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	return Describe(bi)
}

// Describe returns "VERSION revision REVISION (modified)" or "(clean)".
// VERSION is the main module's version ("(devel)" when built from a source
// tree). Without VCS information (go build -buildvcs=false, or no
// repository) it says "revision unknown (built without VCS information)".
func Describe(bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" {
		version = "unknown"
	}
	var revision, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	switch {
	case revision == "":
		return version + " revision unknown (built without VCS information)"
	case modified == "true":
		return version + " revision " + revision + " (modified)"
	case modified == "false":
		return version + " revision " + revision + " (clean)"
	default:
		return version + " revision " + revision + " (modification unknown)"
	}
}
