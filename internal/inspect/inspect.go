package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/partition"
)

// maxConfig caps the config blobs read to summarize them.
const maxConfig = oci.MaxManifestSize

// Inspect reads the image that ref (a tag, a semantic tag
// TAG--r1.c1.r2.c2[--...], or a digest) names in src. display is the
// reference as the user wrote it, for the report and error messages.
//
// A semantic reference is read as its base tag with the selection marked
// on the field; if the base tag does not exist, a literal tag of the whole
// name is tried. Nothing is written anywhere.
func Inspect(ctx context.Context, src Source, display, ref string) (*Report, error) {
	kind, loc, repo := src.Describe()
	r := &Report{Reference: display, Source: kind, Location: loc, Repository: repo, Tag: ref,
		Manifests: []Manifest{}, Referrers: []Descriptor{}}
	lookup := ref
	var sel partition.Selection
	semantic := false
	if !oci.LooksLikeDigest(ref) {
		base, s, ok, err := partition.ParseRef(ref)
		if ok && err != nil {
			return nil, fmt.Errorf("%s: %w", display, err)
		}
		if ok {
			lookup, sel, semantic, r.Tag = base, s, true, base
		}
	}
	desc, body, err := src.Resolve(ctx, lookup)
	if err != nil && semantic && errors.Is(err, ErrUnknownRef) {
		if d, b, lerr := src.Resolve(ctx, ref); lerr == nil { // a literal tag of that name
			desc, body, err, semantic, r.Tag = d, b, nil, false, ref
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", display, err)
	}
	m, err := oci.ParseManifest(desc.MediaType, body)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", display, desc.Digest, err)
	}
	r.Digest, r.MediaType, r.Size = desc.Digest, m.MediaType, int64(len(body))
	r.ArtifactType, r.Annotations = m.ArtifactType, m.Annotations

	c := &collector{src: src, fields: map[digest.Digest]string{}}
	c.loc, _ = src.(Locator)
	if m.IsIndex {
		for _, d := range m.Manifests {
			mf := Manifest{Platform: oci.PlatformString(d.Platform), Digest: d.Digest, MediaType: d.MediaType,
				Size: d.Size, ArtifactType: d.ArtifactType, Annotations: d.Annotations, Kind: "other"}
			if err := c.child(ctx, &mf); err != nil {
				return nil, err
			}
			r.Manifests = append(r.Manifests, mf)
		}
	} else {
		mf := Manifest{Digest: desc.Digest, MediaType: m.MediaType, Size: int64(len(body)),
			ArtifactType: m.ArtifactType, Annotations: m.Annotations}
		if err := c.image(ctx, &mf, m); err != nil {
			return nil, err
		}
		r.Manifests = append(r.Manifests, mf)
	}
	for _, mf := range r.Manifests {
		r.TDFS = r.TDFS || mf.Field != nil
	}
	if r.Referrers, err = c.referrers(ctx, desc.Digest); err != nil {
		return nil, err
	}
	if semantic {
		if !r.TDFS {
			return nil, fmt.Errorf("%s: %s (%s) is %w: no manifest has a field layer, so there is nothing to select", display, lookup, desc.Digest, ErrNotTDFS)
		}
		r.Selection = selectCells(ctx, src, r, desc.MediaType, body, sel)
	}
	return r, nil
}

// collector reads the parts of an image.
type collector struct {
	src Source
	loc Locator
	// fields maps a field digest to the platform that showed it first.
	fields map[digest.Digest]string
}

// child fills an index entry: image manifests are read, nested indexes and
// other artifacts only described.
func (c *collector) child(ctx context.Context, mf *Manifest) error {
	switch mf.MediaType {
	case ocispec.MediaTypeImageIndex, oci.MediaTypeDockerManifestList:
		mf.Kind = "index"
	case ocispec.MediaTypeImageManifest, oci.MediaTypeDockerManifest:
	default:
		return nil
	}
	mt, body, err := c.src.Manifest(ctx, mf.Digest)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", mf.Digest, err)
	}
	if mf.Kind == "index" {
		mf.Referrers, err = c.referrers(ctx, mf.Digest)
		return err
	}
	m, err := oci.ParseManifest(mt, body)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", mf.Digest, err)
	}
	return c.image(ctx, mf, m)
}

// image fills an image manifest: config, layers, field, referrers.
func (c *collector) image(ctx context.Context, mf *Manifest, m *oci.Manifest) error {
	mf.Kind = "image"
	if m.IsIndex {
		mf.Kind = "index"
		return nil
	}
	var err error
	if m.Config != nil {
		if mf.Config, err = c.config(ctx, *m.Config); err != nil {
			return err
		}
		if mf.Platform == "" {
			mf.Platform = mf.Config.Platform
		}
	}
	mf.Layers = []Layer{}
	var field *ocispec.Descriptor
	for _, l := range m.Layers {
		ly := Layer{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size, Annotations: l.Annotations,
			Field: l.MediaType == partition.FieldMediaType}
		if ly.Field {
			field = &l
		}
		if ly.CID, err = c.cid(ctx, l.Digest); err != nil {
			return err
		}
		mf.Layers = append(mf.Layers, ly)
		mf.LayersSize += l.Size
	}
	if field != nil {
		if mf.Field, err = c.field(ctx, *field); err != nil {
			return err
		}
		if p, seen := c.fields[field.Digest]; seen {
			mf.Field.SameAs = p
			if p == "" {
				mf.Field.SameAs = "(no platform)"
			}
		} else {
			c.fields[field.Digest] = mf.Platform
		}
	}
	mf.Referrers, err = c.referrers(ctx, mf.Digest)
	return err
}

func (c *collector) cid(ctx context.Context, d digest.Digest) (string, error) {
	if c.loc == nil {
		return "", nil
	}
	s, err := c.loc.BlobLocator(ctx, d)
	if err != nil {
		return "", fmt.Errorf("blob %s: %w", d, err)
	}
	return s, nil
}

// imageConfig is the part of an image config inspect shows.
type imageConfig struct {
	ocispec.Platform
	Created string `json:"created"`
	Author  string `json:"author"`
	Config  struct {
		User       string            `json:"User"`
		WorkingDir string            `json:"WorkingDir"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []json.RawMessage `json:"history"`
}

func (c *collector) config(ctx context.Context, d ocispec.Descriptor) (*Config, error) {
	cf := &Config{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	var err error
	if cf.CID, err = c.cid(ctx, d.Digest); err != nil {
		return nil, err
	}
	switch d.MediaType {
	case ocispec.MediaTypeImageConfig, "application/vnd.docker.container.image.v1+json":
	default:
		return cf, nil // an artifact's config: only its descriptor
	}
	if d.Size > maxConfig {
		return cf, nil
	}
	b, err := c.src.SmallBlob(ctx, d.Digest)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", d.Digest, err)
	}
	var ic imageConfig
	if err := json.Unmarshal(b, &ic); err != nil {
		return nil, fmt.Errorf("config %s: %w", d.Digest, err)
	}
	cf.Platform = oci.PlatformString(&ic.Platform)
	cf.Created, cf.Author = ic.Created, ic.Author
	cf.User, cf.WorkingDir = ic.Config.User, ic.Config.WorkingDir
	cf.Entrypoint, cf.Cmd, cf.Env, cf.Labels = ic.Config.Entrypoint, ic.Config.Cmd, ic.Config.Env, ic.Config.Labels
	cf.DiffIDs, cf.History = len(ic.RootFS.DiffIDs), len(ic.History)
	return cf, nil
}

func (c *collector) referrers(ctx context.Context, d digest.Digest) ([]Descriptor, error) {
	ds, err := c.src.Referrers(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", d, err)
	}
	out := make([]Descriptor, 0, len(ds))
	for _, x := range ds {
		out = append(out, descriptor(x))
	}
	return out, nil
}

func descriptor(d ocispec.Descriptor) Descriptor {
	return Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType,
		Platform: oci.PlatformString(d.Platform), Annotations: d.Annotations}
}

// selectCells marks the cells sel selects, and computes the partition
// serve would answer for it.
func selectCells(ctx context.Context, src Source, r *Report, mediaType string, body []byte, sel partition.Selection) *Selection {
	s := &Selection{Key: sel.Key(), Rects: []string{}, Cells: []CellRef{}}
	for _, rc := range sel.Rects() {
		s.Rects = append(s.Rects, rc.String())
	}
	first := true
	for i := range r.Manifests {
		f := r.Manifests[i].Field
		if f == nil {
			continue
		}
		for j := range f.Cells {
			cl := &f.Cells[j]
			cl.Selected = sel.Contains(cl.Row, cl.Col)
			if cl.Selected && first {
				s.Cells = append(s.Cells, CellRef{Row: cl.Row, Col: cl.Col, Digest: cl.Digest})
				if cl.Size > 0 {
					s.Size += cl.Size
				}
			}
		}
		first = false
	}
	if res, err := flatten.Flatten(ctx, src, mediaType, body, sel); err == nil {
		s.Digest, s.MediaType = res.Top.Digest, res.Top.MediaType
	}
	return s
}
