package flatten

import (
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// index flattens every 2DFS child of an index and rewrites the index to
// point at the new manifests. Index members and descriptor members other
// than digest and size are kept.
func (f *flattener) index(mediaType string, body []byte) (Blob, error) {
	idx, err := decodeObject(body)
	if err != nil {
		return Blob{}, fmt.Errorf("index: %w", err)
	}
	entries, ok := idx["manifests"].([]any)
	if !ok {
		return Blob{}, fmt.Errorf("index: no \"manifests\" array")
	}
	out := make([]any, len(entries))
	changed := false
	for i, e := range entries {
		desc, ok := e.(object)
		if !ok {
			return Blob{}, fmt.Errorf("index: manifests[%d] is not an object", i)
		}
		out[i] = desc
		if desc["mediaType"] != ocispec.MediaTypeImageManifest {
			continue
		}
		d, err := descriptorDigest(desc)
		if err != nil {
			return Blob{}, fmt.Errorf("index: manifests[%d]: %w", i, err)
		}
		m, err := f.child(d)
		if err != nil {
			return Blob{}, err
		}
		if m != nil {
			out[i] = withContent(desc, *m)
			changed = true
		}
	}
	if !changed {
		return Blob{}, fmt.Errorf("%w: no manifest of the index has a field layer", ErrNotTDFS)
	}
	idx["manifests"] = out
	b, err := newBlob(mediaType, idx, len(body)+64)
	if err != nil {
		return Blob{}, fmt.Errorf("index: %w", err)
	}
	return b, nil
}

// child flattens the child manifest d once; nil means it has no field and
// is kept.
func (f *flattener) child(d digest.Digest) (*Blob, error) {
	if m, ok := f.children[d]; ok {
		return m, nil
	}
	if err := f.ctx.Err(); err != nil {
		return nil, err
	}
	body, err := fetchManifest(f.ctx, f.src, d)
	if err != nil {
		return nil, err
	}
	m, err := f.manifest(body)
	if err != nil {
		return nil, fmt.Errorf("index child %s: %w", d, err)
	}
	if m != nil {
		f.add(&f.res.Manifests, *m)
	}
	f.children[d] = m
	return m, nil
}
