// Package ocilayout reads and writes OCI image layouts
// (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// for dfsreg's offline commands.
//
// A Layout is a read-only view of a layout directory: it resolves a name
// through the org.opencontainers.image.ref.name annotations of index.json
// and serves the layout's blobs as a flatten.Source, so a 2DFS image in a
// layout is partitioned by exactly the code the registry uses. Write copies
// an image (any Content: a layout, the store, generated objects) into a
// layout directory, byte for byte.
//
// References to a layout are written "oci:DIR[:NAME]" (see ParseRef), as
// skopeo and umoci do.
package ocilayout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/partition"
)

// Prefix starts a layout reference: "oci:DIR[:NAME]".
const Prefix = "oci:"

// MaxSmallBlob caps what Manifest and SmallBlob read into memory, the same
// bound the registry applies to manifests.
const MaxSmallBlob = oci.MaxManifestSize

// ErrNotFound is wrapped by the errors for blobs a layout does not hold.
var ErrNotFound = errors.New("not in the OCI layout")

// ParseRef splits a layout reference "oci:DIR[:NAME]" into DIR and NAME. The
// text after the last ':' is NAME when it is a valid tag (semantic tags such
// as "v1--0.0.1.1" are), otherwise the whole text is DIR (so "oci:C:\x" and
// "oci:./a:b/c" keep their colons). ok is false without the "oci:" prefix.
func ParseRef(ref string) (dir, name string, ok bool) {
	rest, ok := strings.CutPrefix(ref, Prefix)
	if !ok {
		return "", "", false
	}
	return SplitName(rest)
}

// SplitName splits "DIR[:NAME]" like ParseRef does after its prefix. ok is
// false when DIR is empty.
func SplitName(s string) (dir, name string, ok bool) {
	dir = s
	if i := strings.LastIndexByte(s, ':'); i >= 0 && partition.ValidTag(s[i+1:]) {
		dir, name = s[:i], s[i+1:]
	}
	return dir, name, dir != ""
}

// Layout is an OCI image layout directory opened for reading.
type Layout struct {
	dir   string
	index indexFile
	raw   []byte // index.json as read
}

// indexFile is index.json, read tolerantly.
type indexFile struct {
	MediaType string               `json:"mediaType"`
	Manifests []ocispec.Descriptor `json:"manifests"`
}

// Open opens the layout at dir: it must hold an oci-layout file and an
// index.json.
func Open(dir string) (*Layout, error) {
	lb, err := os.ReadFile(filepath.Join(dir, ocispec.ImageLayoutFile))
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %w", dir, err)
	}
	var ly ocispec.ImageLayout
	if err := json.Unmarshal(lb, &ly); err != nil || ly.Version == "" {
		return nil, fmt.Errorf("%s: %s has no imageLayoutVersion", dir, ocispec.ImageLayoutFile)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %w", dir, err)
	}
	l := &Layout{dir: dir, raw: raw}
	if err := json.Unmarshal(raw, &l.index); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", dir, ocispec.ImageIndexFile, err)
	}
	return l, nil
}

// Dir returns the layout's directory.
func (l *Layout) Dir() string { return l.dir }

// Names lists the distinct org.opencontainers.image.ref.name values of
// index.json, sorted.
func (l *Layout) Names() []string {
	var out []string
	for _, d := range l.index.Manifests {
		if n := d.Annotations[ocispec.AnnotationRefName]; n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Image is a resolved top-level object: a manifest or an index, with its
// descriptor and bytes.
type Image struct {
	Descriptor ocispec.Descriptor
	Body       []byte
}

// Find resolves name to an image of the layout:
//
//   - a digest ("sha256:...") names any manifest or index blob of the layout;
//   - otherwise the index.json entry annotated
//     org.opencontainers.image.ref.name = name;
//   - an empty name is the layout's only entry. When index.json has several
//     entries and none is named, index.json itself is the image: that is the
//     form `tdfs image export` writes (its index.json is the 2DFS index).
func (l *Layout) Find(ctx context.Context, name string) (*Image, error) {
	if oci.LooksLikeDigest(name) {
		d, err := oci.ParseDigest(name)
		if err != nil {
			return nil, err
		}
		mt, body, err := l.Manifest(ctx, d)
		if err != nil {
			return nil, err
		}
		return &Image{Descriptor: ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}, Body: body}, nil
	}
	var found []ocispec.Descriptor
	for _, d := range l.index.Manifests {
		if name == "" || d.Annotations[ocispec.AnnotationRefName] == name {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 1:
		return l.image(ctx, found[0])
	case len(found) == 0 && name != "":
		return nil, fmt.Errorf("%w: no image named %q in %s (names: %s)", ErrNotFound, name, l.dir, strings.Join(l.Names(), ", "))
	case len(found) == 0:
		return nil, fmt.Errorf("%w: %s lists no image", ErrNotFound, l.dir)
	case name == "" && len(l.Names()) == 0:
		mt := l.index.MediaType
		if mt == "" {
			mt = ocispec.MediaTypeImageIndex
		}
		return &Image{Descriptor: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(l.raw), Size: int64(len(l.raw))}, Body: l.raw}, nil
	case name == "":
		return nil, fmt.Errorf("%s holds several images: name one (oci:%s:NAME; names: %s)", l.dir, l.dir, strings.Join(l.Names(), ", "))
	}
	return nil, fmt.Errorf("%s has %d entries named %q: name one by digest", l.dir, len(found), name)
}

func (l *Layout) image(ctx context.Context, d ocispec.Descriptor) (*Image, error) {
	mt, body, err := l.Manifest(ctx, d.Digest)
	if err != nil {
		return nil, err
	}
	if int64(len(body)) != d.Size {
		return nil, fmt.Errorf("%s: %s has %d bytes, index.json says %d", l.dir, d.Digest, len(body), d.Size)
	}
	if d.MediaType == "" {
		d.MediaType = mt
	}
	return &Image{Descriptor: d, Body: body}, nil
}

// path returns the file of blob d.
func (l *Layout) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	return filepath.Join(l.dir, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()), nil
}

func notFound(d digest.Digest, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: blob %s", ErrNotFound, d)
	}
	return err
}

// BlobSize returns the size of blob d (flatten.Source).
func (l *Layout) BlobSize(_ context.Context, d digest.Digest) (int64, error) {
	p, err := l.path(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, notFound(d, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("blob %s: %s is not a regular file", d, p)
	}
	return fi.Size(), nil
}

// SmallBlob reads blob d whole, verified, up to MaxSmallBlob bytes
// (flatten.Source).
func (l *Layout) SmallBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	n, err := l.BlobSize(ctx, d)
	if err != nil {
		return nil, err
	}
	if n > MaxSmallBlob {
		return nil, fmt.Errorf("blob %s has %d bytes, more than the %d this operation reads", d, n, MaxSmallBlob)
	}
	p, _ := l.path(d)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, notFound(d, err)
	}
	if d.Algorithm().FromBytes(b) != d {
		return nil, fmt.Errorf("blob %s: the layout's file does not match its digest", d)
	}
	return b, nil
}

// Manifest reads manifest or index d and reports the media type its body
// declares (flatten.Source).
func (l *Layout) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	b, err := l.SmallBlob(ctx, d)
	if err != nil {
		return "", nil, err
	}
	return probeMediaType(b), b, nil
}

// OpenBlob streams blob d (Content). The caller verifies the digest.
func (l *Layout) OpenBlob(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	p, err := l.path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(d, err)
	}
	return f, nil
}

// probeMediaType returns the "mediaType" member of body, or "".
func probeMediaType(body []byte) string {
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(body, &probe)
	return probe.MediaType
}
