package ocilayout

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/oci"
)

// Content reads the objects of an image by digest: a Layout, a repository
// of the store, or generated objects over either (WithBlobs).
type Content interface {
	// Manifest returns a manifest or index and its media type.
	Manifest(ctx context.Context, d digest.Digest) (mediaType string, body []byte, err error)
	// OpenBlob streams a blob (config, layer, allotment).
	OpenBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
}

// WithBlobs returns Content that serves blobs (generated objects such as a
// flatten.Result's) from memory and everything else from base.
func WithBlobs(base Content, blobs ...flatten.Blob) Content {
	m := make(map[digest.Digest]flatten.Blob, len(blobs))
	for _, b := range blobs {
		m[b.Digest] = b
	}
	return overlay{base, m}
}

type overlay struct {
	base  Content
	blobs map[digest.Digest]flatten.Blob
}

func (o overlay) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	if b, ok := o.blobs[d]; ok {
		return b.MediaType, b.Data, nil
	}
	return o.base.Manifest(ctx, d)
}

func (o overlay) OpenBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	if b, ok := o.blobs[d]; ok {
		return io.NopCloser(bytes.NewReader(b.Data)), nil
	}
	return o.base.OpenBlob(ctx, d)
}

// IsManifest reports whether a descriptor's media type is a manifest or an
// index (as opposed to a blob).
func IsManifest(mediaType string) bool { return oci.IsManifestMediaType(mediaType) }

// Walk visits every object reachable from top exactly once, each after
// everything it references, so visiting in order is a safe push order:
// blobs (configs, layers) with a nil body, then child manifests, then top,
// manifests and indexes with their verified bytes. Index entries are
// always read as manifests; subjects are not followed; non-distributable
// layers that carry URLs are skipped (as the registry does). 2DFS
// allotments, referenced only by a field, are not visited.
func Walk(ctx context.Context, c Content, top ocispec.Descriptor, visit func(desc ocispec.Descriptor, body []byte) error) error {
	seen := map[digest.Digest]bool{}
	var walk func(desc ocispec.Descriptor, depth int) error
	walk = func(desc ocispec.Descriptor, depth int) error {
		if seen[desc.Digest] {
			return nil
		}
		if depth > 16 {
			return fmt.Errorf("manifest %s: indexes nested too deep", desc.Digest)
		}
		seen[desc.Digest] = true
		if err := ctx.Err(); err != nil {
			return err
		}
		mt, body, err := c.Manifest(ctx, desc.Digest)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		if err := checkBytes(desc, body); err != nil {
			return err
		}
		if desc.MediaType == "" {
			desc.MediaType = mt
		}
		m, err := oci.ParseManifest("", body)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		for _, child := range m.Manifests {
			if err := walk(child, depth+1); err != nil {
				return err
			}
		}
		for _, b := range m.Blobs() {
			if seen[b.Digest] {
				continue
			}
			seen[b.Digest] = true
			if err := visit(b, nil); err != nil {
				return err
			}
		}
		return visit(desc, body)
	}
	return walk(top, 0)
}

// checkBytes verifies that body is what desc describes.
func checkBytes(desc ocispec.Descriptor, body []byte) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", desc.Digest, err)
	}
	if desc.Digest.Algorithm().FromBytes(body) != desc.Digest {
		return fmt.Errorf("manifest %s: content does not match its digest", desc.Digest)
	}
	if desc.Size != 0 && int64(len(body)) != desc.Size {
		return fmt.Errorf("manifest %s: %d bytes, its descriptor says %d", desc.Digest, len(body), desc.Size)
	}
	return nil
}

// Summary describes an image for humans and scripts.
type Summary struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	// Manifests are the image manifests: the index's children in index
	// order, or the image itself.
	Manifests []ManifestSummary `json:"manifests"`
}

// ManifestSummary is one image manifest of a Summary.
type ManifestSummary struct {
	// Platform is "os/arch[/variant]" from the index entry, or from the
	// config for a single manifest; "" when unknown.
	Platform  string               `json:"platform"`
	Digest    digest.Digest        `json:"digest"`
	MediaType string               `json:"mediaType"`
	Size      int64                `json:"size"`
	Config    ocispec.Descriptor   `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
	// LayersSize is the sum of the layers' sizes.
	LayersSize int64 `json:"layersSize"`
}

// Describe summarizes the image top (whose bytes are body) read through c.
// Children of an index that are not image manifests (nested indexes,
// attestations without layers) are listed with their descriptor only.
func Describe(ctx context.Context, c Content, top ocispec.Descriptor, body []byte) (*Summary, error) {
	if err := checkBytes(top, body); err != nil {
		return nil, err
	}
	m, err := oci.ParseManifest("", body)
	if err != nil {
		return nil, err
	}
	s := &Summary{Digest: top.Digest, MediaType: m.MediaType, Size: int64(len(body))}
	if !m.IsIndex {
		ms, err := describeManifest(ctx, c, top, body, m)
		if err != nil {
			return nil, err
		}
		s.Manifests = []ManifestSummary{*ms}
		return s, nil
	}
	for _, d := range m.Manifests {
		mt, b, err := c.Manifest(ctx, d.Digest)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		if err := checkBytes(d, b); err != nil {
			return nil, err
		}
		if d.MediaType == "" {
			d.MediaType = mt
		}
		cm, err := oci.ParseManifest("", b)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		ms := &ManifestSummary{Platform: oci.PlatformString(d.Platform), Digest: d.Digest, MediaType: d.MediaType, Size: int64(len(b)), Layers: []ocispec.Descriptor{}}
		if !cm.IsIndex {
			if ms, err = describeManifest(ctx, c, d, b, cm); err != nil {
				return nil, err
			}
		}
		s.Manifests = append(s.Manifests, *ms)
	}
	return s, nil
}

func describeManifest(ctx context.Context, c Content, desc ocispec.Descriptor, body []byte, m *oci.Manifest) (*ManifestSummary, error) {
	ms := &ManifestSummary{Platform: oci.PlatformString(desc.Platform), Digest: desc.Digest, MediaType: m.MediaType, Size: int64(len(body)), Layers: []ocispec.Descriptor{}}
	if m.Config != nil {
		ms.Config = *m.Config
		if ms.Platform == "" {
			ms.Platform = configPlatform(ctx, c, *m.Config)
		}
	}
	for _, l := range m.Layers {
		ms.Layers = append(ms.Layers, l)
		ms.LayersSize += l.Size
	}
	return ms, nil
}

// configPlatform reads os/architecture/variant from an image config; "" if
// it cannot.
func configPlatform(ctx context.Context, c Content, cfg ocispec.Descriptor) string {
	rc, err := c.OpenBlob(ctx, cfg.Digest)
	if err != nil {
		return ""
	}
	defer rc.Close()
	p, err := oci.ReadConfigPlatform(rc, cfg)
	if err != nil {
		return ""
	}
	return oci.PlatformString(p)
}
