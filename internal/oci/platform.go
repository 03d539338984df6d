package oci

import (
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// PlatformString is "os/arch[/variant]". A platform without an OS or
// without an architecture (or no platform at all) is "": there is nothing
// to select it by.
func PlatformString(p *v1.Platform) string {
	if p == nil || p.OS == "" || p.Architecture == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ReadConfigPlatform reads the platform of the image config cfg from r, the
// config blob: at most MaxManifestSize bytes, which must be cfg.Size bytes
// matching cfg.Digest. It returns nil, nil when the blob is not an image
// config with a platform (an artifact's config, say); an error when the
// blob is too large, cannot be read or does not match its descriptor.
func ReadConfigPlatform(r io.Reader, cfg v1.Descriptor) (*v1.Platform, error) {
	if cfg.Size > MaxManifestSize {
		return nil, fmt.Errorf("config %s: %d bytes, more than the %d read", cfg.Digest, cfg.Size, MaxManifestSize)
	}
	if err := cfg.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", cfg.Digest, err)
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", cfg.Digest, err)
	}
	if int64(len(b)) != cfg.Size || cfg.Digest.Algorithm().FromBytes(b) != cfg.Digest {
		return nil, fmt.Errorf("config %s: content does not match its descriptor", cfg.Digest)
	}
	var p v1.Platform
	if err := json.Unmarshal(b, &p); err != nil || PlatformString(&p) == "" {
		return nil, nil //nolint:nilerr // not an image config: no platform
	}
	return &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}, nil
}
