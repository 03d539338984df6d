package flatten

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// manifest flattens an OCI image manifest. It returns nil, nil when the
// manifest has no field layer.
func (f *flattener) manifest(body []byte) (*Blob, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	layers, fieldAt, err := fieldLayer(m)
	if err != nil || fieldAt < 0 {
		return nil, err
	}
	fieldDesc, err := toDescriptor(layers[fieldAt])
	if err != nil {
		return nil, fmt.Errorf("manifest: field layer: %w", err)
	}
	allots, err := f.selection(fieldDesc)
	if err != nil {
		return nil, err
	}
	cfgDesc, ok := m["config"].(object)
	if !ok {
		return nil, fmt.Errorf("manifest: no config descriptor")
	}
	cfg, err := f.config(cfgDesc, allots)
	if err != nil {
		return nil, err
	}

	sizes := make([]int64, len(allots))
	for i, a := range allots {
		if sizes[i], err = f.size(a); err != nil {
			return nil, err
		}
	}
	kept := append(layers[:fieldAt:fieldAt], layers[fieldAt+1:]...)
	m["layers"] = &extended{kept, len(allots), func(buf *bytes.Buffer, i int) {
		writeLayer(buf, allots[i].Digest, sizes[i])
	}}
	m["config"] = withContent(cfgDesc, cfg)
	b, err := newBlob(ocispec.MediaTypeImageManifest, m, len(body)+len(allots)*layerJSONSize)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &b, nil
}

// layerJSONSize is about the size of an allotment layer descriptor.
const layerJSONSize = 170

// writeLayer writes the canonical descriptor of an allotment layer:
// {"digest":"<d>","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":<n>}.
// d comes from a validated field, so it needs no escaping.
func writeLayer(buf *bytes.Buffer, d digest.Digest, size int64) {
	buf.WriteString(`{"digest":"`)
	buf.WriteString(string(d))
	buf.WriteString(`","mediaType":"` + ocispec.MediaTypeImageLayerGzip + `","size":`)
	var num [20]byte
	buf.Write(strconv.AppendInt(num[:0], size, 10))
	buf.WriteByte('}')
}

// fieldLayer returns the layers of m and the index of its field layer, or
// -1. More than one field layer is an error.
func fieldLayer(m object) (layers []any, at int, err error) {
	at = -1
	switch v := m["layers"].(type) {
	case nil:
		return nil, -1, nil
	case []any:
		layers = v
	default:
		return nil, -1, fmt.Errorf("manifest: \"layers\" is not an array")
	}
	for i, l := range layers {
		lo, ok := l.(object)
		if !ok {
			return nil, -1, fmt.Errorf("manifest: layer %d is not an object", i)
		}
		if lo["mediaType"] != partition.FieldMediaType {
			continue
		}
		if at >= 0 {
			return nil, -1, fmt.Errorf("manifest: more than one 2DFS field layer (layers %d and %d)", at, i)
		}
		at = i
	}
	return layers, at, nil
}

// toDescriptor converts a generic descriptor, checking its digest.
func toDescriptor(v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var d ocispec.Descriptor
	if err := json.Unmarshal(b, &d); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := d.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("digest %q: %w", d.Digest, err)
	}
	return d, nil
}

// withContent returns a copy of the generic descriptor desc pointing at b:
// digest and size replaced, embedded "data" (now stale) removed, every
// other member (mediaType, platform, annotations, artifactType, ...) kept.
func withContent(desc object, b Blob) object {
	out := maps.Clone(desc)
	out["digest"] = b.Digest.String()
	out["size"] = json.Number(strconv.Itoa(len(b.Data)))
	delete(out, "data")
	return out
}

// descriptorDigest returns the validated digest of a generic descriptor.
func descriptorDigest(desc object) (digest.Digest, error) {
	s, _ := desc["digest"].(string)
	d := digest.Digest(s)
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("descriptor digest %q: %w", s, err)
	}
	return d, nil
}

// selection returns the selected allotments of a field, reading it once.
func (f *flattener) selection(field ocispec.Descriptor) ([]partition.Allotment, error) {
	if s, ok := f.selected[field.Digest]; ok {
		return s, nil
	}
	fl, err := readField(f.ctx, f.src, field)
	if err != nil {
		return nil, err
	}
	s := fl.Select(f.sel)
	f.selected[field.Digest] = s
	if f.sizes == nil {
		f.sizes = make(map[digest.Digest]int64, len(s))
	}
	if ss, ok := f.src.(SizeSource); ok && len(s) > 0 {
		// One call for every size; any left out are asked for one by one
		// in size(), which reports them.
		ds := make([]digest.Digest, len(s))
		for i, a := range s {
			ds[i] = a.Digest
		}
		sizes, err := ss.BlobSizes(f.ctx, ds)
		if err != nil {
			return nil, err
		}
		for d, n := range sizes {
			f.sizes[d] = n
		}
	}
	return s, nil
}

// size returns the stored size of an allotment blob, asking once.
func (f *flattener) size(a partition.Allotment) (int64, error) {
	if n, ok := f.sizes[a.Digest]; ok {
		return n, nil
	}
	n, err := f.src.BlobSize(f.ctx, a.Digest)
	if err == nil && n < 0 {
		err = fmt.Errorf("invalid size %d", n)
	}
	if err != nil {
		return 0, &AllotmentError{Row: a.Row, Col: a.Col, Digest: a.Digest, Err: err}
	}
	f.sizes[a.Digest] = n
	return n, nil
}
