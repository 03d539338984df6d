package inspect

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/store"
)

const (
	denseIndex  = "sha256:74c277537d9fba1c3041a11d378f9b0af7c31e06b8ff32040180ddd361653b24"
	sparseIndex = "sha256:6031378c7ab90ff2d2e558bf9708a69b697b5d9bf46c86122ff2852bfb8e179c"
)

func inspectLayout(t *testing.T, dir, ref string) (*Report, error) {
	t.Helper()
	l, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return Inspect(context.Background(), LayoutSource(l), "oci:"+dir+":"+ref, ref)
}

// TestGoldenLayouts: text (colours off) and JSON of the fixture layouts,
// whole and with a selection; the sparse field shows its holes.
func TestGoldenLayouts(t *testing.T) {
	for _, tc := range []struct{ name, fixture, ref string }{
		{"dense", "tdfs-image", "v1"},
		{"dense-sel", "tdfs-image", "v1--0.0.1.1"},
		{"sparse", "sparse-image", "v1"},
		{"sparse-sel", "sparse-image", "v1--0.2.3.3--2.1.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fixture(t, tc.fixture)
			rep, err := inspectLayout(t, dir, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			neutral(rep, dir)
			golden(t, "layout-"+tc.name+".txt", asText(t, rep))
			golden(t, "layout-"+tc.name+".json", asJSON(t, rep))
		})
	}
}

// TestLayoutFacts checks the facts the golden files hold, so that a wrong
// golden file cannot be accepted by -update unnoticed.
func TestLayoutFacts(t *testing.T) {
	rep, err := inspectLayout(t, fixture(t, "sparse-image"), "v1--0.2.3.3")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Digest != sparseIndex || !rep.TDFS || len(rep.Manifests) != 2 {
		t.Fatalf("digest %s tdfs %v manifests %d", rep.Digest, rep.TDFS, len(rep.Manifests))
	}
	if got := []string{rep.Manifests[0].Platform, rep.Manifests[1].Platform}; !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v", got)
	}
	f := rep.Manifests[0].Field
	if f.Rows != 4 || f.Cols != 4 || f.Allotments != 4 || len(f.Holes) != 12 {
		t.Errorf("field %dx%d, %d allotments, %d holes", f.Rows, f.Cols, f.Allotments, len(f.Holes))
	}
	var cells []Pos
	for _, c := range rep.Selection.Cells {
		cells = append(cells, Pos{c.Row, c.Col})
	}
	if want := []Pos{{0, 2}, {3, 3}}; !slices.Equal(cells, want) {
		t.Errorf("selected %v, want %v", cells, want)
	}
	if rep.Selection.Size != 433+243 {
		t.Errorf("selection size %d", rep.Selection.Size)
	}
	if rep.Manifests[1].Field.SameAs != "linux/amd64" {
		t.Errorf("arm64 field sameAs %q", rep.Manifests[1].Field.SameAs)
	}
	if l := rep.Manifests[0].Layers; len(l) != 3 || !l[2].Field || l[2].Size != 1074 {
		t.Errorf("layers %+v", l)
	}
	if c := rep.Manifests[1].Config; c.Platform != "linux/arm64" || c.DiffIDs != 2 {
		t.Errorf("config %+v", c)
	}
}

// copyDir copies a layout so that a test may change it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestMissingAllotment: a cell whose blob is gone is shown as missing (not
// as a hole), and no partition digest is claimed.
func TestMissingAllotment(t *testing.T) {
	dir := copyDir(t, fixture(t, "sparse-image"))
	gone := "ce6d497dcc54" // cell (0,2)
	m, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", gone+"*"))
	if len(m) != 1 {
		t.Fatalf("allotment %s: %v", gone, m)
	}
	os.Remove(m[0])
	rep, err := inspectLayout(t, dir, "v1--0.0.3.3")
	if err != nil {
		t.Fatal(err)
	}
	f := rep.Manifests[0].Field
	var c *Cell
	for i := range f.Cells {
		if f.Cells[i].Row == 0 && f.Cells[i].Col == 2 {
			c = &f.Cells[i]
		}
	}
	if c == nil || !c.Missing || c.Size != -1 || len(f.Holes) != 12 {
		t.Fatalf("cell (0,2) %+v, holes %d", c, len(f.Holes))
	}
	if rep.Selection.Digest != "" {
		t.Errorf("partition digest %s with an allotment missing", rep.Selection.Digest)
	}
	if txt := string(asText(t, rep)); !strings.Contains(txt, "missing") {
		t.Errorf("text does not say missing:\n%s", txt)
	}
}

// TestLayoutReferrers: an artifact listed in index.json whose subject is
// the image is a referrer.
func TestLayoutReferrers(t *testing.T) {
	dir := copyDir(t, fixture(t, "tdfs-image"))
	subj := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: denseIndex, Size: 854}
	ref := referrerManifest(t, subj, "application/vnd.example.sbom")
	d := digest.FromBytes(ref)
	for name, b := range map[string][]byte{d.Encoded(): ref, digest.FromBytes([]byte("{}")).Encoded(): []byte("{}")} {
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	entry := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `","size":` + strconv.Itoa(len(ref)) + `},`
	idx = []byte(strings.Replace(string(idx), `"manifests":[`, `"manifests":[`+entry, 1))
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := inspectLayout(t, dir, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Referrers) != 1 || rep.Referrers[0].Digest != d || rep.Referrers[0].ArtifactType != "application/vnd.example.sbom" {
		t.Fatalf("referrers %+v", rep.Referrers)
	}
}

// TestErrors: the errors inspect explains, from a layout and a store.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := store.Open(ctx, store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, st, fixture(t, "tdfs-image"), "v1", "fixture/dense", "v1")
	// A plain image: the whole field flattened, tagged in another repository.
	plainStore(t, st, "fixture/dense", "plain/app", "v1")
	st.Close()
	ro, err := store.Open(ctx, store.Options{Root: root, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	l, err := ocilayout.Open(fixture(t, "tdfs-image"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  Source
		ref  string
		want error
		text string
	}{
		{"layout unknown tag", LayoutSource(l), "nope", ErrUnknownRef, "no image named"},
		{"layout unknown semantic", LayoutSource(l), "nope--0.0.0.0", ErrUnknownRef, ""},
		{"layout inverted rect", LayoutSource(l), "v1--1.0.0.0", nil, "row1"},
		{"store unknown tag", StoreSource(ro, "fixture/dense"), "v2", ErrUnknownRef, ""},
		{"store unknown digest", StoreSource(ro, "fixture/dense"), "sha256:" + strings.Repeat("0", 64), ErrUnknownRef, ""},
		{"store unknown repository", StoreSource(ro, "no/such"), "v1", ErrUnknownRef, ""},
		{"store not 2DFS", StoreSource(ro, "plain/app"), "v1--0.0.1.1", ErrNotTDFS, "no manifest has a field layer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(ctx, tc.src, tc.ref, tc.ref)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
		})
	}
	// The plain image itself is inspected fine, and is not 2DFS.
	rep, err := Inspect(ctx, StoreSource(ro, "plain/app"), "plain/app:v1", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.TDFS || rep.Manifests[0].Field != nil || len(rep.Manifests[0].Layers) != 11 {
		t.Errorf("plain image: tdfs %v, %d layers", rep.TDFS, len(rep.Manifests[0].Layers))
	}
}

// TestColor: with colours the text carries ANSI styles, and is the plain
// text once they are stripped.
func TestColor(t *testing.T) {
	rep, err := inspectLayout(t, fixture(t, "sparse-image"), "v1--0.2.3.3")
	if err != nil {
		t.Fatal(err)
	}
	var col bytes.Buffer
	if err := Render(&col, rep, RenderOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	plain := string(asText(t, rep))
	if strings.Contains(plain, "\x1b[") {
		t.Error("ANSI escapes without colours")
	}
	if !strings.Contains(col.String(), "\x1b[") {
		t.Fatal("no ANSI escapes with colours")
	}
	if got := ansi.Strip(col.String()); got != plain {
		t.Errorf("coloured text without its escapes differs:\n%s\n---\n%s", got, plain)
	}
}

// TestNestedIndex: an index whose children are an index (the dense 2DFS
// image) and a non-manifest artifact lists both by their descriptors only.
func TestNestedIndex(t *testing.T) {
	dir := copyDir(t, fixture(t, "tdfs-image"))
	top := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + denseIndex + `","size":854},` +
		`{"mediaType":"application/vnd.example.thing+json","digest":"sha256:` + strings.Repeat("ab", 32) + `","size":7,"platform":{"os":"linux","architecture":"s390x"}}]}`
	d := digest.FromString(top)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), []byte(top), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := inspectLayout(t, dir, d.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Manifests) != 2 || rep.Manifests[0].Kind != "index" || rep.Manifests[1].Kind != "other" || rep.TDFS {
		t.Fatalf("manifests %+v, tdfs %v", rep.Manifests, rep.TDFS)
	}
	txt := string(asText(t, rep))
	for _, want := range []string{"platforms    (index), linux/s390x", "kind         index: not an image manifest, not expanded", "kind         other: not an image manifest"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}
}
