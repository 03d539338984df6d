package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{name: "nothing", want: Info{Version: "dev", GoVersion: runtime.Version()}},
		{name: "injected wins", version: "1.2.3", commit: "deadbeef", date: "2026-05-06T07:08:09Z", bi: vcs,
			want: Info{Version: "1.2.3", Commit: "deadbeef", Date: "2026-05-06T07:08:09Z", GoVersion: "go1.26.1"}},
		{name: "vcs fallback", bi: vcs, want: Info{Version: "dev", Commit: "abc123", Date: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.26.1"}},
		{name: "go install module@version", bi: &debug.BuildInfo{GoVersion: "go1.26.2", Main: debug.Module{Version: "v1.4.0"}},
			want: Info{Version: "v1.4.0", GoVersion: "go1.26.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got := resolve(tc.version, tc.commit, tc.date, tc.bi); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
