package oci

import (
	_ "crypto/sha256" // registers sha256 with go-digest
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Limits on what a client may name. The spec's name grammar has no length
// limit of its own; 255 is what distribution and most clients enforce.
const (
	MaxNameLength = 255
	MaxTagLength  = 128
)

var (
	// nameRE is the distribution spec's repository name grammar:
	// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
	nameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	// tagRE is the spec's tag grammar.
	tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidName reports whether name is a repository name the spec allows. The
// grammar admits no "." or ".." path element and no empty element, so a valid
// name can never escape a directory.
func ValidName(name string) bool {
	return len(name) <= MaxNameLength && nameRE.MatchString(name)
}

// ValidTag reports whether tag is a tag the spec allows.
func ValidTag(tag string) bool { return tagRE.MatchString(tag) }

// ParseDigest parses a digest string, rejecting unknown algorithms and
// malformed encodings with a DIGEST_INVALID error (400).
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", Err(CodeDigestInvalid, "invalid digest %q: %v", truncate(s, 80), err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", Err(CodeDigestInvalid, "unsupported digest algorithm %q: dfsreg stores sha256 content", d.Algorithm())
	}
	return d, nil
}

// LooksLikeDigest reports whether a manifest reference is meant as a digest
// (it has an algorithm separator) rather than a tag.
func LooksLikeDigest(ref string) bool { return strings.Contains(ref, ":") }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
