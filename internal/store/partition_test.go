package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/testutil"
)

// 2DFS in the store: the fixtures of shared/testdata/2dfs pushed the way
// `tdfs image push` does, then every semantic tag of semantic-tags.md
// resolved, checked against what the spec (§4) says dfsreg answers.

func tdfsFixtureDir(t testing.TB) string {
	t.Helper()
	testutil.Fixture2DFS(t, "semantic-tags.json") // skips without it
	return testutil.Fixture2DFS(t)
}

// tdfsTopOf returns the image tagged name in an OCI layout.
func tdfsTopOf(t testing.TB, layout, name string) (ocispec.Descriptor, []byte) {
	t.Helper()
	var idx ocispec.Index
	tdfsReadJSON(t, filepath.Join(layout, "index.json"), &idx)
	for _, d := range idx.Manifests {
		if d.Annotations[ocispec.AnnotationRefName] == name {
			b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", d.Digest.Encoded()))
			if err != nil {
				t.Fatal(err)
			}
			return d, b
		}
	}
	t.Fatalf("%s: no image named %s", layout, name)
	return ocispec.Descriptor{}, nil
}

func tdfsReadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// tdfsPush pushes an OCI layout as `tdfs image push` does: every blob file
// (skipping those in skip), then each child manifest under its bare hex
// digest, then the index by tag.
func tdfsPush(t testing.TB, st *store.Store, layout, repo, tag string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(layout, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutBlob(ctx, repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatalf("PutBlob %s: %v", d, err)
		}
	}
	top, body := tdfsTopOf(t, layout, "v1")
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatal(err)
	}
	for _, c := range idx.Manifests {
		cb, err := os.ReadFile(filepath.Join(dir, c.Digest.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		res, err := st.PutManifest(ctx, repo, c.Digest.Encoded(), c.MediaType, cb)
		if err != nil {
			t.Fatalf("PUT child %s: %v", c.Digest, err)
		}
		if res.Tag != "" || res.Digest != c.Digest {
			t.Fatalf("PUT child by bare hex: tag %q digest %s", res.Tag, res.Digest)
		}
	}
	res, err := st.PutManifest(ctx, repo, tag, top.MediaType, body)
	if err != nil {
		t.Fatalf("PUT index: %v", err)
	}
	return res.Digest
}

// tdfsRow is a row of semantic-tags.json.
type tdfsRow struct {
	Tag       string
	Image     string
	Repo      string
	Status    int
	Digest    string
	Platforms map[string]struct {
		Layers       []string
		DiffIDs      []string `json:"diff_ids"`
		LayerLabels  []string `json:"layer_labels"`
		DiffIDLabels []string `json:"diff_id_labels"`
	}
}

func tdfsRows(t testing.TB) []tdfsRow {
	var rows []tdfsRow
	tdfsReadJSON(t, filepath.Join(tdfsFixtureDir(t), "semantic-tags.json"), &rows)
	if len(rows) < 38 {
		t.Fatalf("semantic-tags.json: %d rows", len(rows))
	}
	return rows
}

// tdfsLabels maps the labels of semantic-tags.md to layer digests and
// diff_ids, from the rows themselves.
func tdfsLabels(rows []tdfsRow) (layers, diffIDs map[string]string) {
	layers, diffIDs = map[string]string{}, map[string]string{}
	for _, r := range rows {
		for _, p := range r.Platforms {
			for i, l := range p.LayerLabels {
				layers[l] = p.Layers[i]
			}
			for i, l := range p.DiffIDLabels {
				diffIDs[l] = p.DiffIDs[i]
			}
		}
	}
	return layers, diffIDs
}

func tdfsDedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func tdfsOpen(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// tdfsWantErr checks that err is an OCI error with code and HTTP status.
func tdfsWantErr(t *testing.T, what string, err error, code oci.Code, status int) *oci.Error {
	t.Helper()
	var oe *oci.Error
	if !errors.As(err, &oe) || oe.Code != code || oe.Status != status {
		t.Fatalf("%s: error %v, want %s (%d)", what, err, code, status)
	}
	return oe
}

// tdfsImage is a resolved partition, read back through the store by digest
// as a client would.
type tdfsImage struct {
	top      *store.Manifest
	children []tdfsChild
}

type tdfsChild struct {
	desc     ocispec.Descriptor
	manifest ocispec.Manifest
	config   map[string]any
	layers   []string
	diffIDs  []string
}

// tdfsRead reads an index or manifest and its children and configs back by
// digest, checking each against its descriptor.
func tdfsRead(t *testing.T, st *store.Store, repo string, m *store.Manifest) tdfsImage {
	t.Helper()
	ctx := context.Background()
	if digest.FromBytes(m.Body) != m.Digest {
		t.Fatalf("%s: body does not hash to its digest", m.Digest)
	}
	img := tdfsImage{top: m}
	var descs []ocispec.Descriptor
	if m.MediaType == ocispec.MediaTypeImageIndex {
		var idx ocispec.Index
		if err := json.Unmarshal(m.Body, &idx); err != nil {
			t.Fatal(err)
		}
		descs = idx.Manifests
	} else {
		descs = []ocispec.Descriptor{{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body))}}
	}
	for _, d := range descs {
		cm, err := st.GetManifest(ctx, repo, d.Digest.String())
		if err != nil {
			t.Fatalf("child %s not retrievable by digest: %v", d.Digest, err)
		}
		if int64(len(cm.Body)) != d.Size || cm.MediaType != d.MediaType {
			t.Fatalf("child %s: %d bytes %s, descriptor says %d %s", d.Digest, len(cm.Body), cm.MediaType, d.Size, d.MediaType)
		}
		c := tdfsChild{desc: d}
		if err := json.Unmarshal(cm.Body, &c.manifest); err != nil {
			t.Fatal(err)
		}
		cfg, err := st.ReadSmallBlob(ctx, repo, c.manifest.Config.Digest)
		if err != nil {
			t.Fatalf("config %s not retrievable: %v", c.manifest.Config.Digest, err)
		}
		rc, err := st.OpenBlob(ctx, repo, c.manifest.Config.Digest, 0, -1)
		if err != nil {
			t.Fatalf("OpenBlob config: %v", err)
		}
		rc.Close()
		if int64(len(cfg)) != c.manifest.Config.Size {
			t.Fatalf("config %s: %d bytes, descriptor says %d", c.manifest.Config.Digest, len(cfg), c.manifest.Config.Size)
		}
		if err := json.Unmarshal(cfg, &c.config); err != nil {
			t.Fatal(err)
		}
		for _, l := range c.manifest.Layers {
			size, err := st.StatBlob(ctx, repo, l.Digest)
			if err != nil || size != l.Size {
				t.Errorf("layer %s: stored size %d (%v), descriptor says %d", l.Digest, size, err, l.Size)
			}
			c.layers = append(c.layers, l.Digest.String())
		}
		for _, v := range c.config["rootfs"].(map[string]any)["diff_ids"].([]any) {
			c.diffIDs = append(c.diffIDs, v.(string))
		}
		img.children = append(img.children, c)
	}
	return img
}

func tdfsPlatform(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	return p.OS + "/" + p.Architecture
}

// Every row of semantic-tags.md for the dense and sparse images, resolved
// through the store.
func TestPartitionResolveReferenceRows(t *testing.T) {
	ctx := context.Background()
	fix := tdfsFixtureDir(t)
	rows := tdfsRows(t)
	layerOf, diffOf := tdfsLabels(rows)
	st := tdfsOpen(t)
	layouts := map[string]string{"dense": "tdfs-image", "sparse": "sparse-image"}
	for image, layout := range layouts {
		got := tdfsPush(t, st, filepath.Join(fix, layout), "fixture/"+image, "v1")
		want, _ := tdfsTopOf(t, filepath.Join(fix, layout), "v1")
		if got != want.Digest {
			t.Fatalf("%s pushed as %s, want %s", image, got, want.Digest)
		}
	}
	byTag := map[string]digest.Digest{}
	checked := 0
	for _, row := range rows {
		if _, ok := layouts[row.Image]; !ok {
			continue
		}
		t.Run(row.Image+"/"+row.Tag, func(t *testing.T) {
			base, _, semantic, rectErr := partition.ParseRef(row.Tag)
			m, err := st.Resolve(ctx, row.Repo, row.Tag)
			switch {
			case row.Tag == "v1":
				// Plain tag: the stored 2DFS index, unchanged.
				if err != nil || m.Digest.String() != row.Digest {
					t.Fatalf("plain tag: %v %v, want %s", m, err, row.Digest)
				}
				return
			case !semantic || base != "v1":
				// Junk, 3-number rects, single dash, overflow, unknown
				// base tag: a literal lookup that fails.
				tdfsWantErr(t, row.Tag, err, oci.CodeManifestUnknown, http.StatusNotFound)
				return
			case rectErr != nil:
				oe := tdfsWantErr(t, row.Tag, err, oci.CodeManifestInvalid, http.StatusBadRequest)
				if !strings.Contains(oe.Message, "greater than") {
					t.Errorf("400 message %q does not say what is wrong", oe.Message)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if m.MediaType != ocispec.MediaTypeImageIndex {
				t.Fatalf("media type %s", m.MediaType)
			}
			img := tdfsRead(t, st, row.Repo, m)
			if len(img.children) != 2 {
				t.Fatalf("%d children", len(img.children))
			}
			for i, wantPlatform := range []string{"linux/amd64", "linux/arm64"} {
				c := img.children[i]
				if p := tdfsPlatform(c.desc.Platform); p != wantPlatform {
					t.Errorf("child %d: platform %q, want %q", i, p, wantPlatform)
				}
				if c.desc.ArtifactType != ocispec.MediaTypeImageConfig {
					t.Errorf("child %d: artifactType %q not kept", i, c.desc.ArtifactType)
				}
				if arch := c.config["architecture"]; "linux/"+arch.(string) != wantPlatform {
					t.Errorf("child %d: config architecture %v", i, arch)
				}
				ref := row.Platforms[wantPlatform]
				var wantLayers, wantDiffs []string
				for _, l := range tdfsDedupe(ref.LayerLabels) {
					wantLayers = append(wantLayers, layerOf[l])
				}
				for _, l := range tdfsDedupe(ref.DiffIDLabels) {
					wantDiffs = append(wantDiffs, diffOf[l])
				}
				if !slices.Equal(c.layers, wantLayers) {
					t.Errorf("%s layers:\n got %v\nwant %v (%v)", wantPlatform, c.layers, wantLayers, tdfsDedupe(ref.LayerLabels))
				}
				if !slices.Equal(c.diffIDs, wantDiffs) {
					t.Errorf("%s diff_ids:\n got %v\nwant %v", wantPlatform, c.diffIDs, wantDiffs)
				}
				for j, l := range c.manifest.Layers {
					if l.MediaType != ocispec.MediaTypeImageLayerGzip {
						t.Errorf("%s layer %d: media type %s", wantPlatform, j, l.MediaType)
					}
				}
				if h, _ := c.config["history"].([]any); len(h) != len(c.layers) {
					t.Errorf("%s: %d history entries for %d layers", wantPlatform, len(h), len(c.layers))
				}
			}
			byTag[row.Image+"|"+row.Tag] = m.Digest
			checked++
		})
	}
	// Rows 2-9, 12 and 13 of each image compute partitions.
	if checked != 20 {
		t.Errorf("%d rows gave partitions, want 20", checked)
	}
	same := func(image, a, b string) {
		t.Helper()
		if byTag[image+"|"+a] == "" || byTag[image+"|"+a] != byTag[image+"|"+b] {
			t.Errorf("%s: %s = %s, %s = %s: want the same digest", image, a, byTag[image+"|"+a], b, byTag[image+"|"+b])
		}
	}
	// Equivalent selections, same digest; empty selections all alike.
	same("dense", "v1--5.5.9.9", "v1--3.0.3.3")
	same("sparse", "v1--0.0.0.0", "v1--0.0.1.1")
	same("sparse", "v1--0.0.0.0", "v1--1.1.1.1--0.0.0.0")
	same("sparse", "v1--5.5.9.9", "v1--0.1.1.1")
	for _, image := range []string{"dense", "sparse"} {
		same(image, "v1--0.0.1.1", "v1--0.0.1.1--0.0.0.0")
		// The spelling does not matter: other orders and splittings.
		for _, spelled := range []string{"v1--0.0.1.1--0.0.0.0", "v1--1.0.1.1--0.0.0.1", "v1--0.0.0.0--0.1.0.1--1.0.1.1", "v1--00.0.1.01"} {
			m, err := st.Resolve(ctx, "fixture/"+image, spelled)
			if err != nil || m.Digest != byTag[image+"|v1--0.0.1.1"] {
				t.Errorf("%s %s: %v %v, want %s", image, spelled, m, err, byTag[image+"|v1--0.0.1.1"])
			}
		}
		if byTag[image+"|v1--0.0.1.1"] == byTag[image+"|v1--0.0.9.9"] {
			t.Errorf("%s: different selections gave one digest", image)
		}
		// Semantic references never become tags.
		tags, _, err := st.Tags(ctx, "fixture/"+image, "", -1)
		if err != nil || !slices.Equal(tags, []string{"v1"}) {
			t.Errorf("%s tags: %v %v", image, tags, err)
		}
	}
}

// The special rows S1-S3 and the other decisions of spec §4 that need tags
// the fixture does not have.
func TestPartitionResolveSpecial(t *testing.T) {
	ctx := context.Background()
	fix := tdfsFixtureDir(t)
	dense := filepath.Join(fix, "tdfs-image")
	st := tdfsOpen(t)
	tdfsPush(t, st, dense, "fixture/dense", "v1")
	tdfsPush(t, st, dense, "other/dense-copy", "b--rel-2")
	if _, err := st.PutManifest(ctx, "other/dense-copy", "rel-2", ocispec.MediaTypeImageIndex, tdfsMustRead(t, dense, "74c277537d9fba1c3041a11d378f9b0af7c31e06b8ff32040180ddd361653b24")); err != nil {
		t.Fatal(err)
	}
	resolve := func(repo, ref string) *store.Manifest {
		t.Helper()
		m, err := st.Resolve(ctx, repo, ref)
		if err != nil {
			t.Fatalf("Resolve %s:%s: %v", repo, ref, err)
		}
		return m
	}
	layersOf := func(repo string, m *store.Manifest) []string {
		t.Helper()
		img := tdfsRead(t, st, repo, m)
		var out []string
		for _, l := range img.children[0].manifest.Layers {
			out = append(out, l.Digest.Encoded()[:8])
		}
		return out
	}
	const (
		b1     = "bfd8c170"
		b2amd  = "95f42490"
		d00    = "59f076d5"
		d01    = "3cff885b"
		d10    = "eb1cf885"
		d11    = "f73c8b3c"
		d22    = "0d257d3f"
		amdHex = "b21f7fb56cf7cf8e6a35e764b5cead2deead1833f0b500854a992b38f78d22f6"
	)

	// S2: "--" inside the base tag; the same selection in another
	// repository gives the same digest.
	s2 := resolve("other/dense-copy", "b--rel-2--0.0.0.0")
	if got := layersOf("other/dense-copy", s2); !slices.Equal(got, []string{b1, b2amd, d00}) {
		t.Errorf("S2 layers %v", got)
	}
	if d := resolve("fixture/dense", "v1--0.0.0.0").Digest; d != s2.Digest {
		t.Errorf("same selection, other repository: %s vs %s", d, s2.Digest)
	}

	// S3: a literal tag of the full name wins, even over an inverted rect.
	plain := tdfsMustJSON(t, ocispec.Manifest{
		Versioned: tdfsVersioned(),
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: "sha256:b21652267dfd353565890847bb4f7abec810509bdc04419df7a6ec4ed960bf44", Size: 398},
		Layers: []ocispec.Descriptor{
			{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: "sha256:bfd8c17083a6fd320f0d92ae210d48e9a2824b6be940d2bc25b77033930755b0", Size: 189},
			{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: "sha256:95f42490eec7a6ffd1965a0ac44f87f8874d8cd89086ab6f69489daad51f607b", Size: 138},
		},
	})
	for _, tag := range []string{"rel-2--2.2.2.2", "rel-2--1.0.0.0"} {
		if _, err := st.PutManifest(ctx, "other/dense-copy", tag, ocispec.MediaTypeImageManifest, plain); err != nil {
			t.Fatal(err)
		}
		if m := resolve("other/dense-copy", tag); m.Digest != digest.FromBytes(plain) || !bytes.Equal(m.Body, plain) {
			t.Errorf("literal tag %s: got %s, want the literal manifest", tag, m.Digest)
		}
	}
	if got := layersOf("other/dense-copy", resolve("other/dense-copy", "rel-2--2.2.2.3")); !slices.Equal(got, []string{b1, b2amd, d22}) {
		t.Errorf("rel-2--2.2.2.3 layers %v", got)
	}
	_, err := st.Resolve(ctx, "other/dense-copy", "rel-2--2.0.0.0")
	tdfsWantErr(t, "inverted rect", err, oci.CodeManifestInvalid, http.StatusBadRequest)

	// S1: tdfs's children are stored by digest, so no hex tag exists.
	_, err = st.Resolve(ctx, "fixture/dense", amdHex+"--0.0.1.1")
	tdfsWantErr(t, "S1", err, oci.CodeManifestUnknown, http.StatusNotFound)
	if m, err := st.GetManifest(ctx, "fixture/dense", "sha256:"+amdHex); err != nil || m.Digest.Encoded() != amdHex {
		t.Fatalf("child by digest: %v", err)
	}

	// A single-manifest 2DFS image is flattened too, to the same bytes as
	// that platform's child of the index partition.
	if _, err := st.PutManifest(ctx, "fixture/dense", "amd", ocispec.MediaTypeImageManifest, tdfsMustRead(t, dense, amdHex)); err != nil {
		t.Fatal(err)
	}
	single := resolve("fixture/dense", "amd--0.0.1.1")
	if single.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("single manifest partition: %s", single.MediaType)
	}
	if got := layersOf("fixture/dense", single); !slices.Equal(got, []string{b1, b2amd, d00, d01, d10, d11}) {
		t.Errorf("single manifest layers %v", got)
	}
	idx := tdfsRead(t, st, "fixture/dense", resolve("fixture/dense", "v1--0.0.1.1"))
	if idx.children[0].desc.Digest != single.Digest {
		t.Errorf("single manifest partition %s, index child %s", single.Digest, idx.children[0].desc.Digest)
	}

	// Not a 2DFS image: no partitions.
	_, err = st.Resolve(ctx, "other/dense-copy", "rel-2--2.2.2.2x")
	tdfsWantErr(t, "junk", err, oci.CodeManifestUnknown, http.StatusNotFound)
	if _, err := st.PutManifest(ctx, "other/dense-copy", "plain", ocispec.MediaTypeImageManifest, plain); err != nil {
		t.Fatal(err)
	}
	_, err = st.Resolve(ctx, "other/dense-copy", "plain--0.0.0.0")
	tdfsWantErr(t, "plain image", err, oci.CodeManifestUnknown, http.StatusNotFound)
	// Unknown repository.
	_, err = st.Resolve(ctx, "no/such", "v1--0.0.0.0")
	tdfsWantErr(t, "unknown repo", err, oci.CodeManifestUnknown, http.StatusNotFound)
}

func tdfsMustRead(t testing.TB, layout, hex string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", hex))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tdfsMustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tdfsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

// Manifest PUT of a 2DFS image checks the field and its allotments.
func TestPartitionPutChecksAllotments(t *testing.T) {
	ctx := context.Background()
	dense := filepath.Join(tdfsFixtureDir(t), "tdfs-image")
	st := tdfsOpen(t)
	const (
		amdHex = "b21f7fb56cf7cf8e6a35e764b5cead2deead1833f0b500854a992b38f78d22f6"
		d12    = "sha256:8624afdae1e3a3a88f2f421f55213f62db88d0edcf5e576ee222025d4788fea4"
		field  = "sha256:fde50604a40da4df7d035b6c8d4faba36887f295fcecf62ca7f1f63b4810327e"
	)
	body := tdfsMustRead(t, dense, amdHex)
	put := func(repo string) error {
		_, err := st.PutManifest(ctx, repo, amdHex, ocispec.MediaTypeImageManifest, body)
		return err
	}
	tdfsPushExcept(t, st, dense, "t/missing-allotment", d12)
	oe := tdfsWantErr(t, "missing allotment", put("t/missing-allotment"), oci.CodeManifestBlobUnknown, http.StatusBadRequest)
	if !strings.Contains(oe.Message, "(1,2)") || !strings.Contains(oe.Message, d12) {
		t.Errorf("message %q does not name cell (1,2) and %s", oe.Message, d12)
	}
	if !strings.Contains(string(oe.Marshal()), d12) {
		t.Errorf("detail does not name the blob: %s", oe.Marshal())
	}
	if _, err := st.GetManifest(ctx, "t/missing-allotment", "sha256:"+amdHex); !oci.HasCode(err, oci.CodeManifestUnknown) {
		t.Errorf("refused manifest is stored: %v", err)
	}
	// Once the allotment is there, the same PUT succeeds.
	b := tdfsMustRead(t, dense, strings.TrimPrefix(d12, "sha256:"))
	if _, err := st.PutBlob(ctx, "t/missing-allotment", digest.Digest(d12), int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := put("t/missing-allotment"); err != nil {
		t.Fatalf("PUT with every allotment: %v", err)
	}

	tdfsPushExcept(t, st, dense, "t/missing-field", field)
	oe = tdfsWantErr(t, "missing field", put("t/missing-field"), oci.CodeManifestBlobUnknown, http.StatusBadRequest)
	if !strings.Contains(oe.Message, field) {
		t.Errorf("message %q does not name the field blob", oe.Message)
	}

	// A field that does not parse is MANIFEST_INVALID.
	bad := []byte(`{"rows":[{"allotments":[{"digest":"zz","diffid":""}]}]}`)
	cfgHex := "b21652267dfd353565890847bb4f7abec810509bdc04419df7a6ec4ed960bf44"
	cfg := tdfsMustRead(t, dense, cfgHex)
	for _, blob := range [][]byte{bad, cfg} {
		if _, err := st.PutBlob(ctx, "t/bad-field", digest.FromBytes(blob), int64(len(blob)), bytes.NewReader(blob)); err != nil {
			t.Fatal(err)
		}
	}
	m := tdfsMustJSON(t, ocispec.Manifest{
		Versioned: tdfsVersioned(),
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{{MediaType: partition.FieldMediaType, Digest: digest.FromBytes(bad), Size: int64(len(bad))}},
	})
	_, err := st.PutManifest(ctx, "t/bad-field", "v1", ocispec.MediaTypeImageManifest, m)
	tdfsWantErr(t, "bad field", err, oci.CodeManifestInvalid, http.StatusBadRequest)
}

func tdfsPushExcept(t *testing.T, st *store.Store, layout, repo string, skip string) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(layout, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.String() == skip {
			continue
		}
		b := tdfsMustRead(t, layout, e.Name())
		if _, err := st.PutBlob(ctx, repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
}

// tdfsPartitionRows counts the remembered partitions of a selection key.
func tdfsPartitionRows(t *testing.T, root, key string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(root, store.DBFile))+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM partitions WHERE selection = ?`, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// 32 concurrent first requests for one partition compute it once: one
// digest, one remembered row. Half of them go through a second Store on
// the same root, as `dfsreg partition` does while serve runs.
func TestPartitionConcurrentFirstResolve(t *testing.T) {
	ctx := context.Background()
	dense := filepath.Join(tdfsFixtureDir(t), "tdfs-image")
	root := t.TempDir()
	st := openStore(t, root)
	tdfsPush(t, st, dense, "fixture/dense", "v1")
	other := openStore(t, root)

	for round, ref := range []string{"v1--0.1.2.2", "v1--1.0.2.1--0.0.0.0"} {
		stores := []*store.Store{st}
		if round == 1 {
			stores = append(stores, other)
		}
		_, sel, _, _ := partition.ParseRef(ref)
		if n := tdfsPartitionRows(t, root, sel.Key()); n != 0 {
			t.Fatalf("%s: %d partitions rows before the first request", ref, n)
		}
		const n = 32
		digests := make([]digest.Digest, n)
		errs := make([]error, n)
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range n {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				m, err := stores[i%len(stores)].Resolve(ctx, "fixture/dense", ref)
				errs[i] = err
				if err == nil {
					digests[i] = m.Digest
				}
			}()
		}
		start.Done()
		done.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("%s: request %d: %v", ref, i, errs[i])
			}
			if digests[i] != digests[0] {
				t.Fatalf("%s: request %d got %s, request 0 %s", ref, i, digests[i], digests[0])
			}
		}
		if rows := tdfsPartitionRows(t, root, sel.Key()); rows != 1 {
			t.Errorf("%s: %d partitions rows, want 1", ref, rows)
		}
		tdfsRead(t, other, "fixture/dense", &store.Manifest{Digest: digests[0], MediaType: ocispec.MediaTypeImageIndex, Body: tdfsMustManifest(t, other, "fixture/dense", digests[0])})
	}

	// Remembered across a restart: the answer comes from the table.
	st.Close()
	again := openStore(t, root)
	m, err := again.Resolve(ctx, "fixture/dense", "v1--0.1.2.2")
	if err != nil {
		t.Fatal(err)
	}
	_, sel, _, _ := partition.ParseRef("v1--0.1.2.2")
	if rows := tdfsPartitionRows(t, root, sel.Key()); rows != 1 {
		t.Errorf("after reopening: %d rows", rows)
	}
	if m2, _ := other.Resolve(ctx, "fixture/dense", "v1--0.1.2.2"); m2 == nil || m2.Digest != m.Digest {
		t.Errorf("digest changed after reopening")
	}
}

func tdfsMustManifest(t *testing.T, st *store.Store, repo string, d digest.Digest) []byte {
	t.Helper()
	m, err := st.GetManifest(context.Background(), repo, d.String())
	if err != nil {
		t.Fatal(err)
	}
	return m.Body
}

// What the offline commands do with a partition: tag it in the store
// (same repository, another repository), write it to an OCI layout, and
// compute it from a layout instead of the store — always the same bytes.
func TestPartitionOffline(t *testing.T) {
	ctx := context.Background()
	dense := filepath.Join(tdfsFixtureDir(t), "tdfs-image")
	st := tdfsOpen(t)
	tdfsPush(t, st, dense, "fixture/dense", "v1")
	src, err := st.GetManifest(ctx, "fixture/dense", "v1")
	if err != nil {
		t.Fatal(err)
	}
	sel, err := partition.NewSelection(partition.Rect{Row1: 0, Col1: 0, Row2: 1, Col2: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Partition(ctx, "fixture/dense", src, sel)
	if err != nil {
		t.Fatal(err)
	}
	if online, err := st.Resolve(ctx, "fixture/dense", "v1--0.0.1.1"); err != nil || online.Digest != p.Digest {
		t.Fatalf("Partition %s, Resolve %v %v", p.Digest, online, err)
	}
	top := ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: int64(len(p.Body))}

	// --tag in the same repository.
	if _, err := st.PutImage(ctx, "fixture/dense", "small", top, st.Content("fixture/dense"), "fixture/dense"); err != nil {
		t.Fatal(err)
	}
	if m, err := st.GetManifest(ctx, "fixture/dense", "small"); err != nil || m.Digest != p.Digest {
		t.Fatalf("tag small: %v %v", m, err)
	}
	// --tag REPO:TAG elsewhere: everything arrives (mounted).
	if _, err := st.PutImage(ctx, "copy/dense", "small", top, st.Content("fixture/dense"), "fixture/dense"); err != nil {
		t.Fatal(err)
	}
	m, err := st.GetManifest(ctx, "copy/dense", "small")
	if err != nil || m.Digest != p.Digest {
		t.Fatalf("copy: %v %v", m, err)
	}
	copied := tdfsRead(t, st, "copy/dense", m)
	if len(copied.children) != 2 || len(copied.children[1].layers) != 6 {
		t.Fatalf("copy: %d children", len(copied.children))
	}

	// -o DIR: a layout with exactly the image's objects.
	out := filepath.Join(t.TempDir(), "out")
	wr, err := ocilayout.Write(ctx, out, "v1--0.0.1.1", top, st.Content("fixture/dense"))
	if err != nil {
		t.Fatal(err)
	}
	// index, 2 manifests, 2 configs, B1, B2amd, B2arm, 4 allotments.
	ents, _ := os.ReadDir(filepath.Join(out, "blobs", "sha256"))
	if wr.Blobs != 12 || wr.Written != 12 || len(ents) != 12 {
		t.Errorf("layout: %+v, %d files", wr, len(ents))
	}
	for _, e := range ents {
		b := tdfsMustRead(t, out, e.Name())
		if digest.FromBytes(b).Encoded() != e.Name() {
			t.Errorf("layout blob %s does not hash to its name", e.Name())
		}
	}
	l, err := ocilayout.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := l.Find(ctx, "v1--0.0.1.1")
	if err != nil || img.Descriptor.Digest != p.Digest || !bytes.Equal(img.Body, p.Body) {
		t.Fatalf("layout entry: %v %v", img, err)
	}

	// From the OCI layout instead of the store: identical bytes for the
	// index, every child and every config.
	in, err := ocilayout.Open(dense)
	if err != nil {
		t.Fatal(err)
	}
	srcImg, err := in.Find(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := flatten.Flatten(ctx, in, srcImg.Descriptor.MediaType, srcImg.Body, sel)
	if err != nil {
		t.Fatal(err)
	}
	if res.Top.Digest != p.Digest {
		t.Fatalf("layout partition %s, store partition %s", res.Top.Digest, p.Digest)
	}
	for _, b := range res.Blobs() {
		if b.MediaType == ocispec.MediaTypeImageConfig {
			got, err := st.ReadSmallBlob(ctx, "fixture/dense", b.Digest)
			if err != nil || !bytes.Equal(got, b.Data) {
				t.Errorf("config %s differs from the store's: %v", b.Digest, err)
			}
			continue
		}
		if got := tdfsMustManifest(t, st, "fixture/dense", b.Digest); !bytes.Equal(got, b.Data) {
			t.Errorf("%s differs from the store's", b.Digest)
		}
	}
	// And that result tagged into a new repository of the store.
	if _, err := st.PutImage(ctx, "from/layout", "small", res.Top.Descriptor(), ocilayout.WithBlobs(in, res.Blobs()...), ""); err != nil {
		t.Fatal(err)
	}
	if m, err := st.Resolve(ctx, "from/layout", "small"); err != nil || m.Digest != p.Digest {
		t.Fatalf("from layout: %v %v", m, err)
	}
}
