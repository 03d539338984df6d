package flatten

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dfsreg/dfsreg/internal/partition"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNotTDFS is returned by Flatten when the image has no field layer (or
// is not an OCI image manifest or index at all).
var ErrNotTDFS = errors.New("not a 2DFS image")

// mediaTypeDockerList is the Docker manifest list, accepted as an index.
const mediaTypeDockerList = "application/vnd.docker.distribution.manifest.list.v2+json"

// FieldDescriptor returns the field layer of an image manifest: the layer
// whose media type is partition.FieldMediaType. ok is false when there is
// none (including for a body that has no "layers", such as an index). It
// fails on a body that is not a JSON object, on malformed layers, on more
// than one field layer, and on a field layer with an invalid digest.
func FieldDescriptor(manifestBody []byte) (desc ocispec.Descriptor, ok bool, err error) {
	m, err := decodeObject(manifestBody)
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("manifest: %w", err)
	}
	layers, at, err := fieldLayer(m)
	if err != nil || at < 0 {
		return ocispec.Descriptor{}, false, err
	}
	desc, err = toDescriptor(layers[at])
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("manifest: field layer: %w", err)
	}
	return desc, true, nil
}

// FieldAllotments returns the non-empty allotments of a manifest's field, in
// row-major order, reading and verifying the field blob through src. ok is
// false when the manifest has no field layer. Manifest PUT validation checks
// that each returned Digest exists; GC treats them as references.
func FieldAllotments(ctx context.Context, src Source, manifestBody []byte) (allotments []partition.Allotment, ok bool, err error) {
	desc, ok, err := FieldDescriptor(manifestBody)
	if err != nil || !ok {
		return nil, false, err
	}
	f, err := readField(ctx, src, desc)
	if err != nil {
		return nil, true, err
	}
	return f.Select(partition.All()), true, nil
}

// IsTDFS reports whether the object is a 2DFS image: an OCI image manifest
// with a field layer, or an index with at least one such child (children
// are read through src).
func IsTDFS(ctx context.Context, src Source, mediaType string, body []byte) (bool, error) {
	if mediaType == "" {
		mediaType = probeMediaType(body)
	}
	switch topKind(mediaType) {
	case kindManifest:
		_, ok, err := FieldDescriptor(body)
		return ok, err
	case kindIndex:
		var idx struct {
			Manifests []ocispec.Descriptor `json:"manifests"`
		}
		if err := json.Unmarshal(body, &idx); err != nil {
			return false, fmt.Errorf("index: %w", err)
		}
		for _, d := range idx.Manifests {
			if d.MediaType != ocispec.MediaTypeImageManifest {
				continue
			}
			b, err := fetchManifest(ctx, src, d.Digest)
			if err != nil {
				return false, err
			}
			if _, ok, err := FieldDescriptor(b); ok || err != nil {
				return ok, err
			}
		}
	}
	return false, nil
}

func readField(ctx context.Context, src Source, desc ocispec.Descriptor) (*partition.Field, error) {
	if fs, ok := src.(FieldSource); ok {
		f, err := fs.Field(ctx, desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", desc.Digest, err)
		}
		return f, nil
	}
	b, err := fetchSmallBlob(ctx, src, "field", desc.Digest)
	if err != nil {
		return nil, err
	}
	f, err := partition.ParseField(b)
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", desc.Digest, err)
	}
	return f, nil
}

type kind int

const (
	kindOther kind = iota
	kindManifest
	kindIndex
)

// topKind classifies an object by its media type.
func topKind(mediaType string) kind {
	switch mediaType {
	case ocispec.MediaTypeImageManifest:
		return kindManifest
	case ocispec.MediaTypeImageIndex, mediaTypeDockerList:
		return kindIndex
	}
	return kindOther
}

// probeMediaType returns the "mediaType" member of body, or "".
func probeMediaType(body []byte) string {
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(body, &probe) // a bad body fails later, when parsed
	return probe.MediaType
}
