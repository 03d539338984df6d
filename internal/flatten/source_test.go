package flatten

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/testutil"
)

// fixtureDir is the shared 2DFS fixtures directory (see testutil.Fixture2DFS).
func fixtureDir(t testing.TB) string { return testutil.Fixture2DFS(t) }

// layoutSource reads an OCI image layout directory.
type layoutSource struct{ dir string }

const smallBlobLimit = 4 << 20

var errBlobUnknown = errors.New("blob unknown")

func (s layoutSource) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

func (s layoutSource) read(d digest.Digest) ([]byte, error) {
	n, err := s.BlobSize(context.Background(), d)
	if err != nil {
		return nil, err
	}
	if n > smallBlobLimit {
		return nil, fmt.Errorf("blob %s too large (%d bytes)", d, n)
	}
	p, _ := s.path(d)
	return os.ReadFile(p)
}

func (s layoutSource) Manifest(_ context.Context, d digest.Digest) (string, []byte, error) {
	b, err := s.read(d)
	if err != nil {
		return "", nil, err
	}
	return probeMediaType(b), b, nil
}

func (s layoutSource) SmallBlob(_ context.Context, d digest.Digest) ([]byte, error) { return s.read(d) }

func (s layoutSource) BlobSize(_ context.Context, d digest.Digest) (int64, error) {
	p, err := s.path(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, errBlobUnknown
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// fixtureImage opens a fixture layout ("tdfs-image" or "sparse-image") and
// returns the 2DFS index tagged v1.
func fixtureImage(t testing.TB, layout string) (src layoutSource, mediaType string, body []byte) {
	t.Helper()
	src = layoutSource{filepath.Join(fixtureDir(t), layout)}
	b, err := os.ReadFile(filepath.Join(src.dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var top ocispec.Index
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, d := range top.Manifests {
		if d.Annotations[ocispec.AnnotationRefName] == "v1" {
			mt, body, err := src.Manifest(context.Background(), d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return src, mt, body
		}
	}
	t.Fatalf("%s: no manifest tagged v1", layout)
	return
}

// memSource is an in-memory repository.
type memSource struct {
	blobs map[digest.Digest][]byte
	sizes map[digest.Digest]int64 // blobs known by size only (allotments)
}

func newMemSource() *memSource {
	return &memSource{blobs: map[digest.Digest][]byte{}, sizes: map[digest.Digest]int64{}}
}

func (m *memSource) put(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	m.blobs[d] = b
	return d
}

func (m *memSource) Manifest(_ context.Context, d digest.Digest) (string, []byte, error) {
	b, ok := m.blobs[d]
	if !ok {
		return "", nil, errBlobUnknown
	}
	return probeMediaType(b), b, nil
}

func (m *memSource) SmallBlob(_ context.Context, d digest.Digest) ([]byte, error) {
	b, ok := m.blobs[d]
	if !ok {
		return nil, errBlobUnknown
	}
	return b, nil
}

func (m *memSource) BlobSize(_ context.Context, d digest.Digest) (int64, error) {
	if n, ok := m.sizes[d]; ok {
		return n, nil
	}
	if b, ok := m.blobs[d]; ok {
		return int64(len(b)), nil
	}
	return 0, errBlobUnknown
}

// flat is a generated child as seen by a client.
type flat struct {
	platform    *ocispec.Platform
	desc        ocispec.Descriptor
	manifest    ocispec.Manifest
	config      map[string]any
	layers      []string
	layerTypes  []string
	diffIDs     []string
	rawManifest []byte
}

// children resolves the generated image per index entry, reading generated
// objects from res and the rest from src. A single-manifest result gives
// one entry with a nil platform.
func children(t testing.TB, src Source, res *Result) []flat {
	t.Helper()
	gen := map[digest.Digest][]byte{}
	for _, b := range res.Blobs() {
		if b.Digest != digest.FromBytes(b.Data) {
			t.Fatalf("blob %s: digest does not match data", b.Digest)
		}
		gen[b.Digest] = b.Data
	}
	get := func(d digest.Digest) []byte {
		if b, ok := gen[d]; ok {
			return b
		}
		b, err := src.SmallBlob(context.Background(), d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		return b
	}
	var descs []ocispec.Descriptor
	if res.Top.MediaType == ocispec.MediaTypeImageManifest {
		descs = []ocispec.Descriptor{res.Top.Descriptor()}
	} else {
		var idx ocispec.Index
		if err := json.Unmarshal(res.Top.Data, &idx); err != nil {
			t.Fatal(err)
		}
		descs = idx.Manifests
	}
	var out []flat
	for _, d := range descs {
		f := flat{platform: d.Platform, desc: d, rawManifest: get(d.Digest)}
		if int64(len(f.rawManifest)) != d.Size {
			t.Fatalf("descriptor size %d, manifest has %d bytes", d.Size, len(f.rawManifest))
		}
		if err := json.Unmarshal(f.rawManifest, &f.manifest); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(get(f.manifest.Config.Digest), &f.config); err != nil {
			t.Fatal(err)
		}
		for _, l := range f.manifest.Layers {
			f.layers = append(f.layers, l.Digest.String())
			f.layerTypes = append(f.layerTypes, l.MediaType)
		}
		for _, id := range f.config["rootfs"].(map[string]any)["diff_ids"].([]any) {
			f.diffIDs = append(f.diffIDs, id.(string))
		}
		out = append(out, f)
	}
	return out
}

func platformString(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	return p.OS + "/" + p.Architecture
}
