package push

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestMatchPlatform(t *testing.T) {
	arm := &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	amd := &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	for _, tt := range []struct {
		p    *ocispec.Platform
		want []string
		ok   bool
	}{
		{arm, nil, true},
		{nil, nil, true},
		{nil, []string{"linux/amd64"}, false},
		{arm, []string{"linux/arm64"}, true},
		{arm, []string{"linux/arm64/v8"}, true},
		{arm, []string{"linux/arm64/v7"}, false},
		{amd, []string{"linux/arm64", "linux/amd64"}, true},
		{amd, []string{"windows/amd64"}, false},
	} {
		if got := matchPlatform(tt.p, tt.want); got != tt.ok {
			t.Errorf("matchPlatform(%v, %v) = %v", tt.p, tt.want, got)
		}
	}
	for s, ok := range map[string]bool{"linux/amd64": true, "linux/arm/v7": true, "linux": false, "linux/": false, "a/b/c/d": false, "/amd64": false} {
		if err := ParsePlatform(s); (err == nil) != ok {
			t.Errorf("ParsePlatform(%q) = %v", s, err)
		}
	}
}
