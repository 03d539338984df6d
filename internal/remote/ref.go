// Package remote talks to registries as a client: references in the
// distribution grammar, authentication (anonymous, basic and bearer
// challenges, credentials from the docker configuration) and the
// Distribution API requests push and inspect need, one request per method.
// Retrying, parallelism and progress are the caller's.
package remote

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// Reference is a parsed image reference: host[:port]/path[:tag][@digest],
// with Docker Hub defaults ("ubuntu" is index.docker.io/library/ubuntu).
type Reference struct {
	Repo name.Repository
	// Tag is "" when the reference has only a digest.
	Tag    string
	Digest digest.Digest
}

// ParseReference parses s. Without tag and digest the tag is "latest". A
// reference with both keeps both (distribution clients resolve the digest).
func ParseReference(s string) (Reference, error) {
	if strings.Contains(s, "://") {
		return Reference{}, fmt.Errorf("reference %q: no URL scheme (use --plain-http for a plain HTTP registry)", s)
	}
	base, dig, hasDigest := strings.Cut(s, "@")
	var r Reference
	if hasDigest {
		d, err := digest.Parse(dig)
		if err != nil {
			return Reference{}, fmt.Errorf("reference %q: %w", s, err)
		}
		r.Digest = d
	}
	// A tag is after the last ':' that follows the last '/'.
	repo := base
	if i := strings.LastIndexByte(base, ':'); i > strings.LastIndexByte(base, '/') {
		repo, r.Tag = base[:i], base[i+1:]
		if _, err := name.NewTag(base); err != nil {
			return Reference{}, fmt.Errorf("reference %q: %w", s, err)
		}
	} else if !hasDigest {
		r.Tag = "latest"
	}
	rp, err := name.NewRepository(repo)
	if err != nil {
		return Reference{}, fmt.Errorf("reference %q: %w", s, err)
	}
	if !oci.ValidName(rp.RepositoryStr()) {
		return Reference{}, fmt.Errorf("reference %q: repository %q does not match the distribution grammar", s, rp.RepositoryStr())
	}
	r.Repo = rp
	return r, nil
}

// Registry is the registry host[:port], "index.docker.io" for Docker Hub.
func (r Reference) Registry() string { return r.Repo.RegistryStr() }

// Repository is the repository path, "library/ubuntu" for "ubuntu".
func (r Reference) Repository() string { return r.Repo.RepositoryStr() }

// Identifier is what names the manifest in API paths: the digest when
// there is one, else the tag.
func (r Reference) Identifier() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// String is the full reference, registry included.
func (r Reference) String() string {
	s := r.Repo.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}
