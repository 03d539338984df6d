package tdfs

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/partition"
)

// Annotations tdfs writes.
const (
	// AnnotationImageName on the index: "<registry>/<repository>:<tag>".
	AnnotationImageName = "2dfs.image.name"
)

// Target names the image being built. tdfs bakes it into annotations: the
// index's 2dfs.image.name, and org.opencontainers.image.url and .version on
// each manifest and index entry that already has annotations.
type Target struct {
	Registry, Repository, Tag string
}

// Object is a generated manifest, index or blob: its descriptor and bytes.
type Object struct {
	Desc ocispec.Descriptor
	Body []byte
}

// BaseManifest is one platform manifest of the base image: its entry in the
// base index (or a descriptor made for a single manifest) and its bytes.
type BaseManifest struct {
	Desc ocispec.Descriptor
	Body []byte
}

// Base is the image the field is added to.
type Base struct {
	// IndexBody is the base index, nil when the base is a single manifest
	// (which is then wrapped in a new index).
	IndexBody []byte
	// Manifests are the platform manifests to keep, in index order.
	Manifests []BaseManifest
}

// Image is a built 2DFS image.
type Image struct {
	Index     Object
	Manifests []Object // in index order
	Field     Object
}

// Assemble appends the field layer (whose blob is field) to every manifest
// of base and returns the new manifests and the index that lists them. It
// decodes and re-encodes the manifests and the index with the
// image-spec Go types, as tdfs does, so a tdfs-built base gives the same
// bytes and digests as tdfs. Docker manifests and lists are converted to
// their OCI equivalents first (a field is an OCI layer).
func Assemble(base *Base, field []byte, t Target) (*Image, error) {
	if len(base.Manifests) == 0 {
		return nil, errors.New("the base has no platform manifest to add the field to")
	}
	img := &Image{Field: Object{
		Desc: ocispec.Descriptor{MediaType: partition.FieldMediaType, Digest: digest.FromBytes(field), Size: int64(len(field))},
		Body: field,
	}}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	if base.IndexBody != nil {
		if err := json.Unmarshal(base.IndexBody, &idx); err != nil {
			return nil, fmt.Errorf("base index: %w", err)
		}
		if idx.MediaType == oci.MediaTypeDockerManifestList {
			idx.MediaType = ocispec.MediaTypeImageIndex
		}
	}
	url := fmt.Sprintf("https://%s/%s", t.Registry, t.Repository)
	idx.Manifests = nil
	for _, bm := range base.Manifests {
		var m ocispec.Manifest
		if err := json.Unmarshal(bm.Body, &m); err != nil {
			return nil, fmt.Errorf("base manifest %s: %w", bm.Desc.Digest, err)
		}
		if err := toOCI(&m); err != nil {
			return nil, fmt.Errorf("base manifest %s: %w", bm.Desc.Digest, err)
		}
		for _, l := range m.Layers {
			if l.MediaType == partition.FieldMediaType {
				return nil, fmt.Errorf("base manifest %s already has a 2DFS field", bm.Desc.Digest)
			}
		}
		m.Layers = append(m.Layers, img.Field.Desc)
		if m.Annotations != nil {
			m.Annotations[ocispec.AnnotationURL] = url
			m.Annotations[ocispec.AnnotationVersion] = t.Tag
		}
		body, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		d := bm.Desc
		d.Annotations = cloneMap(d.Annotations)
		if d.Annotations != nil {
			d.Annotations[ocispec.AnnotationURL] = url
			d.Annotations[ocispec.AnnotationVersion] = t.Tag
		}
		d.MediaType = ocispec.MediaTypeImageManifest
		d.Digest = digest.FromBytes(body)
		d.Size = int64(len(body))
		img.Manifests = append(img.Manifests, Object{Desc: d, Body: body})
		idx.Manifests = append(idx.Manifests, d)
	}
	if idx.Annotations == nil {
		idx.Annotations = map[string]string{}
	}
	idx.Annotations[AnnotationImageName] = fmt.Sprintf("%s/%s:%s", t.Registry, t.Repository, t.Tag)
	body, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	img.Index = Object{
		Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(body), Size: int64(len(body))},
		Body: body,
	}
	return img, nil
}

// Docker schema 2 media types and their OCI equivalents.
var dockerToOCI = map[string]string{
	oci.MediaTypeDockerManifest:                         ocispec.MediaTypeImageManifest,
	"application/vnd.docker.container.image.v1+json":    ocispec.MediaTypeImageConfig,
	"application/vnd.docker.image.rootfs.diff.tar.gzip": ocispec.MediaTypeImageLayerGzip,
	"application/vnd.docker.image.rootfs.diff.tar":      ocispec.MediaTypeImageLayer,
	"application/vnd.docker.image.rootfs.diff.tar.zstd": ocispec.MediaTypeImageLayerZstd,
	oci.MediaTypeDockerForeignLayer:                     ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // the equivalent
}

// toOCI converts a Docker schema 2 manifest to OCI media types in place; an
// OCI manifest is left as it is.
func toOCI(m *ocispec.Manifest) error {
	switch m.MediaType {
	case ocispec.MediaTypeImageManifest, "":
		return nil
	case oci.MediaTypeDockerManifest:
	default:
		return fmt.Errorf("media type %q is not an image manifest", m.MediaType)
	}
	m.MediaType = ocispec.MediaTypeImageManifest
	if mt, ok := dockerToOCI[m.Config.MediaType]; ok {
		m.Config.MediaType = mt
	}
	for i, l := range m.Layers {
		if mt, ok := dockerToOCI[l.MediaType]; ok {
			m.Layers[i].MediaType = mt
		}
	}
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
