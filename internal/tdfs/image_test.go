package tdfs

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/partition"
)

// fixtureBase undoes what tdfs did to the fixture's base image: it returns
// the base (index and platform manifests, as the image-spec Go types encode
// them) that tdfs started from.
func fixtureBase(t *testing.T, layout string) (*Base, *ocispec.Index) {
	t.Helper()
	blobs := filepath.Join(fixtureDir(t), layout, "blobs", "sha256")
	read := func(d digest.Digest) []byte {
		b, err := os.ReadFile(filepath.Join(blobs, d.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var top ocispec.Index
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(fixtureDir(t), layout, "index.json"))), &top); err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(read(top.Manifests[0].Digest), &idx); err != nil {
		t.Fatal(err)
	}
	want := idx
	strip := func(a map[string]string) {
		delete(a, ocispec.AnnotationURL)
		delete(a, ocispec.AnnotationVersion)
	}
	base := &Base{}
	for i, d := range idx.Manifests {
		var m ocispec.Manifest
		if err := json.Unmarshal(read(d.Digest), &m); err != nil {
			t.Fatal(err)
		}
		m.Layers = m.Layers[:len(m.Layers)-1]
		strip(m.Annotations)
		body, _ := json.Marshal(m)
		d.Annotations = cloneMap(d.Annotations)
		strip(d.Annotations)
		d.Digest, d.Size = digest.FromBytes(body), int64(len(body))
		idx.Manifests[i] = d
		base.Manifests = append(base.Manifests, BaseManifest{Desc: d, Body: body})
	}
	idx.Annotations = nil
	base.IndexBody, _ = json.Marshal(idx)
	return base, &want
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAssembleFixtures builds both fixtures from their 2dfs.json on their
// base and gets exactly the index and manifest digests tdfs produced for
// target 127.0.0.1:5055/fixture/<name>:v1.
func TestAssembleFixtures(t *testing.T) {
	for name, want := range map[string]struct{ index, amd64, arm64, field string }{
		"dense":  {"74c277537d9fba1c3041a11d378f9b0af7c31e06b8ff32040180ddd361653b24", "b21f7fb56cf7cf8e6a35e764b5cead2deead1833f0b500854a992b38f78d22f6", "dd7e47258c5628d12db33e6cacad597b4dd0356dfad00917502b12e020f75613", "fde50604a40da4df7d035b6c8d4faba36887f295fcecf62ca7f1f63b4810327e"},
		"sparse": {"6031378c7ab90ff2d2e558bf9708a69b697b5d9bf46c86122ff2852bfb8e179c", "8b48275f34e921327466e518b4784cd3881656194e1e0c173524efa7750247d2", "bb5e36f92cbc98350abb2e09ee7dcfe07471066a8fedb3d45e4198c4642b5b58", "3375c3200a7c596eca6ba3db97db446c5d307ef1218246d30bba155c5f485f67"},
	} {
		t.Run(name, func(t *testing.T) {
			spec, err := LoadSpec(copySources(t, name))
			if err != nil {
				t.Fatal(err)
			}
			blobs, err := Build(context.Background(), spec, Options{Spool: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			var cells []partition.Allotment
			for _, b := range blobs {
				cells = append(cells, b.Allotment())
			}
			f, err := partition.NewField(cells)
			if err != nil {
				t.Fatal(err)
			}
			base, _ := fixtureBase(t, layoutOf(name))
			img, err := Assemble(base, f.Encode(), Target{Registry: "127.0.0.1:5055", Repository: "fixture/" + name, Tag: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Field.Desc.Digest.Encoded(); got != want.field {
				t.Errorf("field %s, want %s", got, want.field)
			}
			if got := img.Manifests[0].Desc.Digest.Encoded(); got != want.amd64 {
				t.Errorf("amd64 manifest %s, want %s\n%s", got, want.amd64, img.Manifests[0].Body)
			}
			if got := img.Manifests[1].Desc.Digest.Encoded(); got != want.arm64 {
				t.Errorf("arm64 manifest %s, want %s\n%s", got, want.arm64, img.Manifests[1].Body)
			}
			if got := img.Index.Desc.Digest.Encoded(); got != want.index {
				t.Errorf("index %s, want %s\n%s", got, want.index, img.Index.Body)
			}
		})
	}
}

func TestAssembleWrapsAndConverts(t *testing.T) {
	cfg := digest.FromString("config")
	layer := digest.FromString("layer")
	docker := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",` +
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"` + cfg.String() + `","size":6},` +
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"` + layer.String() + `","size":5}]}`
	base := &Base{Manifests: []BaseManifest{{
		Desc: ocispec.Descriptor{MediaType: "application/vnd.docker.distribution.manifest.v2+json", Digest: digest.FromString(docker), Size: int64(len(docker)),
			Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		Body: []byte(docker),
	}}}
	img, err := Assemble(base, []byte(`{"rows":[],"rows_size":0,"owner":""}`), Target{Registry: "index.docker.io", Repository: "user/img", Tag: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(img.Manifests[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.MediaType != ocispec.MediaTypeImageConfig ||
		len(m.Layers) != 2 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip || m.Layers[1].MediaType != partition.FieldMediaType {
		t.Fatalf("manifest not converted: %s", img.Manifests[0].Body)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(img.Index.Body, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != img.Manifests[0].Desc.Digest || idx.Manifests[0].Platform.Architecture != "amd64" ||
		idx.Annotations[AnnotationImageName] != "index.docker.io/user/img:latest" || idx.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("index: %s", img.Index.Body)
	}
	// A base that already has a field is refused.
	if _, err := Assemble(&Base{Manifests: []BaseManifest{{Desc: img.Manifests[0].Desc, Body: img.Manifests[0].Body}}}, []byte("{}"), Target{}); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("Assemble of a 2DFS base: %v", err)
	}
	if _, err := Assemble(&Base{}, []byte("{}"), Target{}); err == nil {
		t.Fatal("Assemble of an empty base succeeded")
	}
}
