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
	// nameRE is the distribution spec's repository name grammar (the
	// reference ValidName is tested against):
	// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
	nameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	// tagRE is the spec's tag grammar.
	tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidName reports whether name is a repository name the spec allows. The
// grammar admits no "." or ".." path element and no empty element, so a valid
// name can never escape a directory. It is checked on every request, so it is
// a hand-written scanner; nameRE is the spec's grammar it is tested against.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLength {
		return false
	}
	for _, comp := range strings.Split(name, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

// validComponent: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
func validComponent(c string) bool {
	if c == "" || !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return false
	}
	for i := 1; i < len(c); {
		if alnum(c[i]) {
			i++
			continue
		}
		// a separator run: ".", "_", "__" or one or more "-"
		j := i
		for j < len(c) && !alnum(c[j]) {
			j++
		}
		switch sep := c[i:j]; {
		case sep == "." || sep == "_" || sep == "__":
		case strings.Trim(sep, "-") == "":
		default:
			return false
		}
		i = j
	}
	return true
}

func alnum(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }

// ValidTag reports whether tag is a tag the spec allows:
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func ValidTag(tag string) bool {
	if len(tag) == 0 || len(tag) > MaxTagLength {
		return false
	}
	for i := 0; i < len(tag); i++ {
		b := tag[i]
		ok := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || i > 0 && (b == '.' || b == '-')
		if !ok {
			return false
		}
	}
	return true
}

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
