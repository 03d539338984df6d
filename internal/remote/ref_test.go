package remote

import "testing"

func TestParseReference(t *testing.T) {
	tests := []struct {
		in                              string
		registry, repo, tag, digest, id string
		bad                             bool
	}{
		{in: "ubuntu", registry: "index.docker.io", repo: "library/ubuntu", tag: "latest", id: "latest"},
		{in: "user/img", registry: "index.docker.io", repo: "user/img", tag: "latest"},
		{in: "user/img:v1", registry: "index.docker.io", repo: "user/img", tag: "v1"},
		{in: "docker.io/user/img:v1", registry: "index.docker.io", repo: "user/img", tag: "v1"},
		{in: "localhost:5000/a/b", registry: "localhost:5000", repo: "a/b", tag: "latest"},
		{in: "127.0.0.1:5000/a/b:v1--0.0.1.1", registry: "127.0.0.1:5000", repo: "a/b", tag: "v1--0.0.1.1"},
		{in: "ghcr.io/o/r@sha256:" + hex64, registry: "ghcr.io", repo: "o/r", digest: "sha256:" + hex64, id: "sha256:" + hex64},
		{in: "ghcr.io/o/r:v2@sha256:" + hex64, registry: "ghcr.io", repo: "o/r", tag: "v2", digest: "sha256:" + hex64, id: "sha256:" + hex64},
		{in: "[::1]:5000/x:y", registry: "[::1]:5000", repo: "x", tag: "y"},
		{in: "Upper/case", bad: true},
		{in: "a/b:bad tag", bad: true},
		{in: "a/b@sha256:abc", bad: true},
		{in: "http://localhost:5000/a", bad: true},
		{in: "", bad: true},
		{in: "a//b", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseReference(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("parsed as %s", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Registry() != tt.registry || r.Repository() != tt.repo || r.Tag != tt.tag || string(r.Digest) != tt.digest {
				t.Fatalf("got %s %s %q %q", r.Registry(), r.Repository(), r.Tag, r.Digest)
			}
			if tt.id != "" && r.Identifier() != tt.id {
				t.Fatalf("Identifier = %q, want %q", r.Identifier(), tt.id)
			}
			back, err := ParseReference(r.String())
			if err != nil || back.String() != r.String() {
				t.Fatalf("String %q does not round-trip: %v", r.String(), err)
			}
		})
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
