package push

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/dfsreg/dfsreg/internal/remote"
	"github.com/dfsreg/dfsreg/internal/tdfs"
)

// Base is the image a 2DFS field is added to: an OCI layout or a registry.
type Base interface {
	// Resolve returns the base's top object (an index or a manifest).
	Resolve(ctx context.Context) (ocispec.Descriptor, []byte, error)
	// Manifest reads a manifest by digest.
	Manifest(ctx context.Context, d digest.Digest) (mediaType string, body []byte, err error)
	// OpenBlobAt streams a blob from a byte offset.
	OpenBlobAt(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error)
	// MountFrom is the repository to mount the base's blobs from, when it
	// is in the target's registry; "" otherwise.
	MountFrom() string
}

// LayoutBase is a base image in an OCI image layout.
type LayoutBase struct {
	Layout *ocilayout.Layout
	Name   string
}

func (b LayoutBase) Resolve(ctx context.Context) (ocispec.Descriptor, []byte, error) {
	img, err := b.Layout.Find(ctx, b.Name)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return img.Descriptor, img.Body, nil
}

func (b LayoutBase) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	return b.Layout.Manifest(ctx, d)
}

func (b LayoutBase) OpenBlobAt(ctx context.Context, d digest.Digest, off int64) (io.ReadCloser, error) {
	return layoutOpener(b.Layout, d)(ctx, off)
}

func (LayoutBase) MountFrom() string { return "" }

// RemoteBase is a base image in a registry.
type RemoteBase struct {
	Repo *remote.Repository
	Ref  remote.Reference
	// SameRegistry is true when the target is in the same registry: blobs
	// are then mounted instead of copied.
	SameRegistry bool
}

func (b RemoteBase) Resolve(ctx context.Context) (ocispec.Descriptor, []byte, error) {
	return b.Repo.Manifest(ctx, b.Ref.Identifier())
}

func (b RemoteBase) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	desc, body, err := b.Repo.Manifest(ctx, d.String())
	return desc.MediaType, body, err
}

func (b RemoteBase) OpenBlobAt(ctx context.Context, d digest.Digest, off int64) (io.ReadCloser, error) {
	return b.Repo.OpenBlobAt(ctx, d, off)
}

func (b RemoteBase) MountFrom() string {
	if b.SameRegistry {
		return b.Repo.Name()
	}
	return ""
}

// BuildOptions describe a 2DFS image to build.
type BuildOptions struct {
	Spec *tdfs.Spec
	Base Base
	// Platforms keeps only these base manifests ("os/arch[/variant]");
	// empty keeps all.
	Platforms []string
	// Target is baked into annotations, as tdfs does.
	Target tdfs.Target
	// Spool, Jobs, KeepOwner and OnAllotment: see tdfs.Options.
	Spool       string
	Jobs        int
	KeepOwner   bool
	OnAllotment func(tdfs.Blob)
}

// Built is a 2DFS image ready to push.
type Built struct {
	Image      *Image
	Allotments []tdfs.Blob
	// Field is the field JSON; Platforms the platforms of the manifests.
	Field     []byte
	Platforms []string
}

// Build2DFS builds the allotments of o.Spec into o.Spool, makes the field,
// appends it to every (selected) platform manifest of the base and returns
// the image to push: base blobs (mounted or copied from the base), the
// field, the allotments, the new manifests and index.
func Build2DFS(ctx context.Context, o BuildOptions) (*Built, error) {
	base, platforms, err := loadBase(ctx, o.Base, o.Platforms)
	if err != nil {
		return nil, err
	}
	allots, err := tdfs.Build(ctx, o.Spec, tdfs.Options{Spool: o.Spool, Jobs: o.Jobs, KeepOwner: o.KeepOwner, Done: o.OnAllotment})
	if err != nil {
		return nil, err
	}
	cells := make([]partition.Allotment, len(allots))
	for i, a := range allots {
		cells[i] = a.Allotment()
	}
	field, err := partition.NewField(cells)
	if err != nil {
		return nil, err
	}
	built, err := tdfs.Assemble(base, field.Encode(), o.Target)
	if err != nil {
		return nil, err
	}
	img := &Image{Root: Manifest{Desc: built.Index.Desc, Body: built.Index.Body}}
	seen := map[digest.Digest]bool{}
	for _, bm := range base.Manifests {
		m, err := oci.ParseManifest("", bm.Body)
		if err != nil {
			return nil, fmt.Errorf("base manifest %s: %w", bm.Desc.Digest, err)
		}
		for _, d := range m.Blobs() {
			if seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			img.Blobs = append(img.Blobs, Blob{Desc: d, Kind: blobKind(d.MediaType), MountFrom: o.Base.MountFrom(), Open: baseOpener(o.Base, d.Digest)})
		}
	}
	fb := built.Field.Body
	img.Blobs = append(img.Blobs, Blob{Desc: built.Field.Desc, Kind: "field", Open: func(context.Context, int64) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(fb)), nil
	}})
	for _, a := range allots {
		if seen[a.Digest] {
			continue
		}
		seen[a.Digest] = true
		img.Blobs = append(img.Blobs, Blob{Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: a.Digest, Size: a.Size},
			Kind: "allotment", Open: fileOpener(a.Path)})
	}
	for _, m := range built.Manifests {
		img.Children = append(img.Children, Manifest{Desc: m.Desc, Body: m.Body})
	}
	return &Built{Image: img, Allotments: allots, Field: fb, Platforms: platforms}, nil
}

func baseOpener(b Base, d digest.Digest) func(context.Context, int64) (io.ReadCloser, error) {
	return func(ctx context.Context, off int64) (io.ReadCloser, error) { return b.OpenBlobAt(ctx, d, off) }
}

// loadBase reads the base's platform manifests, keeping those that match
// platforms (all when empty) and dropping attestations (platform
// unknown/unknown).
func loadBase(ctx context.Context, b Base, platforms []string) (*tdfs.Base, []string, error) {
	top, body, err := b.Resolve(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("base: %w", err)
	}
	m, err := oci.ParseManifest("", body)
	if err != nil {
		return nil, nil, fmt.Errorf("base %s: %w", top.Digest, err)
	}
	out := &tdfs.Base{}
	var kept []string
	if !m.IsIndex {
		p, err := configPlatform(ctx, b, m.Config)
		if err != nil {
			return nil, nil, err
		}
		if !matchPlatform(p, platforms) {
			return nil, nil, fmt.Errorf("base %s is %s, not %s", top.Digest, platformLabel(p), strings.Join(platforms, ", "))
		}
		mt := m.MediaType
		if mt == oci.MediaTypeDockerManifest {
			mt = ocispec.MediaTypeImageManifest
		}
		out.Manifests = []tdfs.BaseManifest{{Desc: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(body), Size: int64(len(body)), Platform: p}, Body: body}}
		return out, []string{platformLabel(p)}, nil
	}
	out.IndexBody = body
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "unknown" {
			continue
		}
		if d.MediaType != ocispec.MediaTypeImageManifest && d.MediaType != oci.MediaTypeDockerManifest {
			return nil, nil, fmt.Errorf("base index entry %s is a %s: only image manifests can take a field", d.Digest, d.MediaType)
		}
		if !matchPlatform(d.Platform, platforms) {
			continue
		}
		_, cb, err := b.Manifest(ctx, d.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("base manifest %s: %w", d.Digest, err)
		}
		if digest.FromBytes(cb) != d.Digest {
			return nil, nil, fmt.Errorf("base manifest %s: content does not match its digest", d.Digest)
		}
		out.Manifests = append(out.Manifests, tdfs.BaseManifest{Desc: d, Body: cb})
		kept = append(kept, platformLabel(d.Platform))
	}
	if len(out.Manifests) == 0 {
		return nil, nil, fmt.Errorf("base %s has no manifest for platform %s", top.Digest, strings.Join(platforms, ", "))
	}
	return out, kept, nil
}

// configPlatform reads the platform of an image config; nil without a
// config or when the config names none.
func configPlatform(ctx context.Context, b Base, cfg *ocispec.Descriptor) (*ocispec.Platform, error) {
	if cfg == nil {
		return nil, nil
	}
	rc, err := b.OpenBlobAt(ctx, cfg.Digest, 0)
	if err != nil {
		return nil, fmt.Errorf("base config %s: %w", cfg.Digest, err)
	}
	defer rc.Close()
	p, err := oci.ReadConfigPlatform(rc, *cfg)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	return p, nil
}

// ParsePlatform checks "os/arch[/variant]".
func ParsePlatform(s string) error {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	return nil
}

func matchPlatform(p *ocispec.Platform, want []string) bool {
	if len(want) == 0 {
		return true
	}
	if p == nil {
		return false
	}
	for _, w := range want {
		parts := strings.Split(w, "/")
		if len(parts) >= 2 && parts[0] == p.OS && parts[1] == p.Architecture && (len(parts) < 3 || parts[2] == p.Variant) {
			return true
		}
	}
	return false
}

// platformLabel names a base manifest's platform in results and errors.
func platformLabel(p *ocispec.Platform) string {
	if s := oci.PlatformString(p); s != "" {
		return s
	}
	return "unknown"
}
