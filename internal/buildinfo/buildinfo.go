// Package buildinfo tells which dfsreg this is: the version, commit and
// build date a release build injects with -ldflags -X (see .goreleaser.yaml),
// else what the Go toolchain recorded (module version, VCS revision and time).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by release builds:
//
//	-X github.com/dfsreg/dfsreg/internal/buildinfo.version=1.2.3
//	-X github.com/dfsreg/dfsreg/internal/buildinfo.commit=<sha>
//	-X github.com/dfsreg/dfsreg/internal/buildinfo.date=<RFC 3339>
var (
	version = ""
	commit  = ""
	date    = ""
)

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	Modified  bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
}

// Get returns the build information of the running binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve prefers the injected values and fills the rest from bi (which
// may be nil).
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	in := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version // go install module@version
		}
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		if in.Commit == "" { // VCS stamping: only trust it when nothing was injected
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					in.Commit = s.Value
				case "vcs.time":
					if in.Date == "" {
						in.Date = s.Value
					}
				case "vcs.modified":
					in.Modified = s.Value == "true"
				}
			}
		}
	}
	if in.Version == "" {
		in.Version = "dev"
	}
	return in
}
