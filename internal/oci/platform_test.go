package oci

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestPlatformString(t *testing.T) {
	for _, tt := range []struct {
		p    *v1.Platform
		want string
	}{
		{nil, ""},
		{&v1.Platform{}, ""},
		{&v1.Platform{OS: "linux"}, ""},
		{&v1.Platform{Architecture: "amd64"}, ""},
		{&v1.Platform{Architecture: "arm64", Variant: "v8"}, ""},
		{&v1.Platform{OS: "linux", Architecture: "amd64"}, "linux/amd64"},
		{&v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "linux/arm64/v8"},
	} {
		if got := PlatformString(tt.p); got != tt.want {
			t.Errorf("PlatformString(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestReadConfigPlatform(t *testing.T) {
	desc := func(s string) v1.Descriptor {
		return v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromString(s), Size: int64(len(s))}
	}
	arm := `{"os":"linux","architecture":"arm64","variant":"v8","rootfs":{"type":"layers"}}`
	for _, tt := range []struct {
		name    string
		body    string
		desc    v1.Descriptor
		want    string
		wantErr string
	}{
		{"image config", arm, desc(arm), "linux/arm64/v8", ""},
		{"artifact config", `{}`, desc(`{}`), "", ""},
		{"not json", `xyz`, desc(`xyz`), "", ""},
		{"os only", `{"os":"linux"}`, desc(`{"os":"linux"}`), "", ""},
		{"wrong digest", arm, desc(arm + " "), "", "does not match"},
		{"short", arm[:10], desc(arm), "", "does not match"},
		{"too large", arm, v1.Descriptor{Digest: digest.FromString(arm), Size: MaxManifestSize + 1}, "", "more than"},
		{"bad digest", arm, v1.Descriptor{Digest: "sha256:xyz", Size: int64(len(arm))}, "", "sha256:xyz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ReadConfigPlatform(strings.NewReader(tt.body), tt.desc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := PlatformString(p); got != tt.want {
				t.Errorf("platform = %q, want %q", got, tt.want)
			}
		})
	}
}
