package flatten

import (
	"context"
	"fmt"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Blob is one generated object, to be stored content-addressed.
type Blob struct {
	MediaType string
	Digest    digest.Digest
	Data      []byte
}

// Descriptor returns a descriptor of b.
func (b Blob) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: int64(len(b.Data))}
}

func newBlob(mediaType string, v any, sizeHint int) (Blob, error) {
	data, err := canonical(v, sizeHint)
	if err != nil {
		return Blob{}, err
	}
	return Blob{MediaType: mediaType, Digest: digest.FromBytes(data), Data: data}, nil
}

// Result is the output of Flatten.
type Result struct {
	// Top is the generated top-level object: an index when the input was an
	// index, otherwise an image manifest. It has the input's media type.
	Top Blob
	// Manifests are the generated child manifests of an index, in index
	// order, each once. Empty when Top is a manifest.
	Manifests []Blob
	// Configs are the generated configs, in manifest order, each once.
	Configs []Blob
}

// Blobs returns every generated object in an order safe for storing:
// configs, then child manifests, then Top.
func (r *Result) Blobs() []Blob {
	out := make([]Blob, 0, len(r.Configs)+len(r.Manifests)+1)
	out = append(out, r.Configs...)
	out = append(out, r.Manifests...)
	return append(out, r.Top)
}

// AllotmentError reports a selected allotment that cannot be used, usually
// because its blob is not in the repository. Err is the Source's error.
type AllotmentError struct {
	Row, Col int
	Digest   digest.Digest
	Err      error
}

func (e *AllotmentError) Error() string {
	return fmt.Sprintf("2DFS allotment (%d,%d) %s: %v", e.Row, e.Col, e.Digest, e.Err)
}

func (e *AllotmentError) Unwrap() error { return e.Err }

// Flatten turns a 2DFS image into a plain OCI image holding the base layers
// plus the allotments sel selects. body is the top-level object, an OCI
// image index (or Docker manifest list) or an OCI image manifest, and
// mediaType its media type (if empty, body's own "mediaType" is used).
//
// Index children are considered when their descriptor's media type is the
// OCI image manifest type; the others (nested indexes, Docker manifests) and
// the manifests without a field layer are kept unchanged. Flatten fails with
// ErrNotTDFS when no manifest has a field layer, with an *AllotmentError
// when a selected allotment's blob is missing, and with ErrDigestMismatch
// when src returns content that does not match its digest.
//
// The result depends only on the input bytes and the set of selected
// allotments, never on time or on how the selection was spelled.
func Flatten(ctx context.Context, src Source, mediaType string, body []byte, sel partition.Selection) (*Result, error) {
	f := &flattener{
		ctx:      ctx,
		src:      src,
		sel:      sel,
		selected: map[digest.Digest][]partition.Allotment{},
		children: map[digest.Digest]*Blob{},
		stored:   map[digest.Digest]bool{},
		res:      &Result{},
	}
	if mediaType == "" {
		mediaType = probeMediaType(body)
	}
	switch topKind(mediaType) {
	case kindIndex:
		top, err := f.index(mediaType, body)
		if err != nil {
			return nil, err
		}
		f.res.Top = top
	case kindManifest:
		m, err := f.manifest(body)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, ErrNotTDFS
		}
		f.res.Top = *m
	default:
		return nil, fmt.Errorf("%w: media type %q is neither an image index nor an image manifest", ErrNotTDFS, mediaType)
	}
	return f.res, nil
}

// flattener holds the state of one Flatten call. The caches matter: every
// platform manifest shares the same field blob and allotments.
type flattener struct {
	ctx      context.Context
	src      Source
	sel      partition.Selection
	selected map[digest.Digest][]partition.Allotment // field digest -> selection
	sizes    map[digest.Digest]int64                 // allotment digest -> size
	children map[digest.Digest]*Blob                 // source child -> new manifest (nil: kept)
	stored   map[digest.Digest]bool                  // digests already in res
	res      *Result
}

// add records a generated blob once.
func (f *flattener) add(list *[]Blob, b Blob) {
	if !f.stored[b.Digest] {
		f.stored[b.Digest] = true
		*list = append(*list, b)
	}
}
