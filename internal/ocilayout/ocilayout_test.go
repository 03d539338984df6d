package ocilayout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/dfsreg/dfsreg/internal/testutil"
)

func fixture(t *testing.T, name string) string { return testutil.Fixture2DFS(t, name) }

const denseIndex = "sha256:74c277537d9fba1c3041a11d378f9b0af7c31e06b8ff32040180ddd361653b24"

func TestParseRef(t *testing.T) {
	for _, c := range []struct {
		in, dir, name string
		ok            bool
	}{
		{"oci:dir", "dir", "", true},
		{"oci:dir:v1", "dir", "v1", true},
		{"oci:/a/b:v1--0.0.1.1", "/a/b", "v1--0.0.1.1", true},
		{"oci:./a:b/c", "./a:b/c", "", true}, // "b/c" is not a tag
		{"oci:/x:y:z", "/x:y", "z", true},
		{"oci::v1", "", "v1", false},
		{"oci:", "", "", false},
		{"docker://x", "", "", false},
		{"repo:v1", "", "", false},
	} {
		dir, name, ok := ocilayout.ParseRef(c.in)
		if dir != c.dir || name != c.name || ok != c.ok {
			t.Errorf("ParseRef(%q) = %q %q %v, want %q %q %v", c.in, dir, name, ok, c.dir, c.name, c.ok)
		}
	}
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	l, err := ocilayout.Open(fixture(t, "tdfs-image"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"v1", "", denseIndex} {
		img, err := l.Find(ctx, name)
		if err != nil || img.Descriptor.Digest != denseIndex || img.Descriptor.MediaType != ocispec.MediaTypeImageIndex || digest.FromBytes(img.Body) != denseIndex {
			t.Errorf("Find(%q): %v %v", name, img, err)
		}
	}
	if _, err := l.Find(ctx, "v2"); !errors.Is(err, ocilayout.ErrNotFound) || !strings.Contains(err.Error(), "names: v1") {
		t.Errorf("Find(v2): %v", err)
	}
	if _, err := l.Find(ctx, "sha256:"+strings.Repeat("0", 64)); !errors.Is(err, ocilayout.ErrNotFound) {
		t.Errorf("Find(unknown digest): %v", err)
	}
	if _, err := l.BlobSize(ctx, "sha256:../../etc"); err == nil {
		t.Error("a malformed digest names a file")
	}

	// The form `tdfs image export` writes: index.json is the 2DFS index,
	// with several unnamed entries.
	dir := t.TempDir()
	for _, f := range []string{"oci-layout"} {
		copyFile(t, filepath.Join(fixture(t, "tdfs-image"), f), filepath.Join(dir, f))
	}
	copyDir(t, filepath.Join(fixture(t, "tdfs-image"), "blobs"), filepath.Join(dir, "blobs"))
	copyFile(t, filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(denseIndex, "sha256:")), filepath.Join(dir, "index.json"))
	ex, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ex.Find(ctx, "")
	if err != nil || img.Descriptor.Digest != denseIndex {
		t.Fatalf("export form: %v %v", img, err)
	}
	if _, err := ex.Find(ctx, "v1"); err == nil {
		t.Error("export form: found a name it does not have")
	}

	if _, err := ocilayout.Open(t.TempDir()); err == nil {
		t.Error("Open of an empty directory")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		copyFile(t, p, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// partitionOf flattens v1 of the dense fixture for rect.
func partitionOf(t *testing.T, r partition.Rect) (*ocilayout.Layout, *flatten.Result) {
	t.Helper()
	ctx := context.Background()
	l, err := ocilayout.Open(fixture(t, "tdfs-image"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := l.Find(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	sel, err := partition.NewSelection(r)
	if err != nil {
		t.Fatal(err)
	}
	res, err := flatten.Flatten(ctx, l, img.Descriptor.MediaType, img.Body, sel)
	if err != nil {
		t.Fatal(err)
	}
	return l, res
}

func TestWalkOrder(t *testing.T) {
	l, res := partitionOf(t, partition.Rect{Row1: 0, Col1: 0, Row2: 0, Col2: 1})
	var order []ocispec.Descriptor
	err := ocilayout.Walk(context.Background(), ocilayout.WithBlobs(l, res.Blobs()...), res.Top.Descriptor(), func(d ocispec.Descriptor, body []byte) error {
		if (body != nil) != ocilayout.IsManifest(d.MediaType) {
			t.Errorf("%s %s: body %v", d.MediaType, d.Digest, body != nil)
		}
		order = append(order, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// index, 2 manifests, 2 configs, B1, B2amd, B2arm, d00, d01: each once.
	if len(order) != 10 || order[len(order)-1].Digest != res.Top.Digest {
		t.Fatalf("walk: %d objects, last %s", len(order), order[len(order)-1].Digest)
	}
	pos := map[digest.Digest]int{}
	for i, d := range order {
		if _, dup := pos[d.Digest]; dup {
			t.Errorf("%s visited twice", d.Digest)
		}
		pos[d.Digest] = i
	}
	for _, m := range res.Manifests {
		var man ocispec.Manifest
		json.Unmarshal(m.Data, &man)
		for _, b := range append([]ocispec.Descriptor{man.Config}, man.Layers...) {
			if pos[b.Digest] > pos[m.Digest] {
				t.Errorf("%s visited after its manifest %s", b.Digest, m.Digest)
			}
		}
	}
}

func TestWriteAndDescribe(t *testing.T) {
	ctx := context.Background()
	l, res := partitionOf(t, partition.Rect{Row1: 1, Col1: 1, Row2: 2, Col2: 2})
	content := ocilayout.WithBlobs(l, res.Blobs()...)
	top := res.Top.Descriptor()

	sum, err := ocilayout.Describe(ctx, content, top, res.Top.Data)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Digest != top.Digest || len(sum.Manifests) != 2 || sum.Manifests[0].Platform != "linux/amd64" || sum.Manifests[1].Platform != "linux/arm64" {
		t.Fatalf("summary %+v", sum)
	}
	for _, m := range sum.Manifests {
		// 2 base layers, (1,1) (1,2) (2,1) (2,2).
		var total int64
		for _, l := range m.Layers {
			total += l.Size
		}
		if len(m.Layers) != 6 || m.LayersSize != total || m.Layers[5].Digest != "sha256:0d257d3f7ea0ab8da39e11c4ba2ce90f067722390bca6b6caf10abfb93051cae" {
			t.Errorf("%s: %d layers, %d bytes", m.Platform, len(m.Layers), m.LayersSize)
		}
	}
	// A single manifest: the platform comes from its config.
	one, err := ocilayout.Describe(ctx, content, res.Manifests[1].Descriptor(), res.Manifests[1].Data)
	if err != nil || len(one.Manifests) != 1 || one.Manifests[0].Platform != "linux/arm64" {
		t.Fatalf("single manifest: %+v %v", one, err)
	}

	dir := filepath.Join(t.TempDir(), "out")
	wr, err := ocilayout.Write(ctx, dir, "p", top, content)
	if err != nil {
		t.Fatal(err)
	}
	// index, 2 manifests, 2 configs, B1, B2amd, B2arm, 4 allotments.
	if wr.Blobs != 12 || wr.Written != 12 {
		t.Errorf("first write: %+v", wr)
	}
	var size int64
	ents, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, "blobs", "sha256", e.Name()))
		if digest.FromBytes(b).Encoded() != e.Name() {
			t.Errorf("%s does not hash to its name", e.Name())
		}
		size += int64(len(b))
	}
	if len(ents) != 12 || size != wr.Bytes {
		t.Errorf("%d files, %d bytes; result %+v", len(ents), size, wr)
	}
	out, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := out.Find(ctx, "p"); err != nil || !bytes.Equal(img.Body, res.Top.Data) {
		t.Fatalf("written layout: %v", err)
	}

	// Again under the same name: nothing new, one entry. Another
	// partition under another name: both entries.
	if wr, err := ocilayout.Write(ctx, dir, "p", top, content); err != nil || wr.Written != 0 {
		t.Errorf("second write: %+v %v", wr, err)
	}
	l2, res2 := partitionOf(t, partition.Rect{Row1: 0, Col1: 0, Row2: 0, Col2: 0})
	if _, err := ocilayout.Write(ctx, dir, "q", res2.Top.Descriptor(), ocilayout.WithBlobs(l2, res2.Blobs()...)); err != nil {
		t.Fatal(err)
	}
	out, _ = ocilayout.Open(dir)
	if names := out.Names(); !slices.Equal(names, []string{"p", "q"}) {
		t.Errorf("names %v", names)
	}

	// Never into a directory that is something else.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "precious"), []byte("x"), 0o644)
	if _, err := ocilayout.Write(ctx, other, "p", top, content); err == nil || !strings.Contains(err.Error(), "not an OCI image layout") {
		t.Errorf("write into a non-layout: %v", err)
	}

	// Content that does not match its digest is refused, and leaves no file.
	bad := filepath.Join(t.TempDir(), "bad")
	if _, err := ocilayout.Write(ctx, bad, "p", top, corrupt{content}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("corrupt content: %v", err)
	}
	ents, _ = os.ReadDir(filepath.Join(bad, "blobs", "sha256"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(bad, "blobs", "sha256", e.Name()))
		if digest.FromBytes(b).Encoded() != e.Name() {
			t.Errorf("corrupt content left %s", e.Name())
		}
	}
}

// corrupt flips a byte of every blob it streams.
type corrupt struct{ ocilayout.Content }

func (c corrupt) OpenBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	rc, err := c.Content.OpenBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[0] ^= 1
	return io.NopCloser(bytes.NewReader(b)), nil
}
