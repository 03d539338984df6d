package inspect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/ipfs"
)

// snapshot records every file and directory under root: kind, mode, size
// and content hash.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel] = "dir " + fi.Mode().String()
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		out[rel] = fi.Mode().String() + " " + hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(a, b map[string]string) []string {
	var d []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if b[k] != a[k] {
			d = append(d, k+": "+a[k]+" -> "+b[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			d = append(d, k+": created ("+b[k]+")")
		}
	}
	return d
}

// filledStore makes a store whose backend records a CID for every blob
// (store.Located, as the IPFS backend does), holding the dense fixture as
// fixture/dense:v1 with one referrer, and the sparse one.
func filledStore(t *testing.T) (root string, referrer string) {
	t.Helper()
	ctx := context.Background()
	root = t.TempDir()
	fsb, err := store.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{Root: root, Backend: cidBackend{fsb}})
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, st, fixture(t, "tdfs-image"), "v1", "fixture/dense", "v1")
	fillStore(t, st, fixture(t, "sparse-image"), "v1", "fixture/sparse", "v1")
	d := putReferrer(t, st, "fixture/dense", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: denseIndex, Size: 854}, "application/vnd.example.sbom")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return root, d.String()
}

// TestGoldenStore: a store's image with a selection, a referrer and the CID
// every blob was recorded with.
func TestGoldenStore(t *testing.T) {
	ctx := context.Background()
	root, referrer := filledStore(t)
	st, err := store.Open(ctx, store.Options{Root: root, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct{ name, repo, ref string }{
		{"dense-sel", "fixture/dense", "v1--1.1.2.2"},
		{"sparse", "fixture/sparse", "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Inspect(ctx, StoreSource(st, tc.repo), tc.repo+":"+tc.ref, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			neutral(rep, root)
			golden(t, "store-"+tc.name+".txt", asText(t, rep))
			golden(t, "store-"+tc.name+".json", asJSON(t, rep))
			checkCIDs(t, rep)
			if tc.repo == "fixture/dense" && (len(rep.Referrers) != 1 || rep.Referrers[0].Digest.String() != referrer) {
				t.Errorf("referrers %+v, want %s", rep.Referrers, referrer)
			}
		})
	}
}

// checkCIDs: every config, layer and allotment shows the CID the backend
// reported for it at commit, in the JSON and in the text.
func checkCIDs(t *testing.T, rep *Report) {
	t.Helper()
	txt := string(asText(t, rep))
	n := 0
	check := func(what string, d, got string) {
		t.Helper()
		c, err := ipfs.DigestCID(digestOf(d))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.String() {
			t.Errorf("%s %s: cid %q, want %s", what, d, got, c)
		}
		if !strings.Contains(txt, c.String()) {
			t.Errorf("%s %s: cid %s not in the text", what, d, c)
		}
		n++
	}
	for _, m := range rep.Manifests {
		check("config", m.Config.Digest.String(), m.Config.CID)
		for _, l := range m.Layers {
			check("layer", l.Digest.String(), l.CID)
		}
		if m.Field != nil {
			for _, c := range m.Field.Cells {
				check("allotment", c.Digest.String(), c.CID)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d CIDs checked", n)
	}
}

// TestReadOnlyStore: inspecting a store changes nothing in its directory
// (no file created, written or removed), and the read-only store refuses
// writes.
func TestReadOnlyStore(t *testing.T) {
	ctx := context.Background()
	root, _ := filledStore(t)
	before := snapshot(t, root)
	st, err := store.Open(ctx, store.Options{Root: root, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"v1", "v1--0.0.1.1", "v1--0.0.9.9"} {
		if _, err := Inspect(ctx, StoreSource(st, "fixture/dense"), ref, ref); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.PutBlob(ctx, "fixture/dense", digestOf("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"), 2, strings.NewReader("{}")); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("PutBlob on a read-only store: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("inspect changed the store:\n%s", strings.Join(d, "\n"))
	}

	// Not a store: nothing is created either.
	empty := filepath.Join(t.TempDir(), "none")
	if _, err := store.Open(ctx, store.Options{Root: empty, ReadOnly: true}); !errors.Is(err, store.ErrNoStore) {
		t.Errorf("read-only open of a missing store: %v", err)
	}
	if _, err := os.Stat(empty); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only open created %s: %v", empty, err)
	}
}

// TestReadOnlyBesideWriter: inspect reads a store another process (here:
// another Store) has open for writing, and sees its latest commit.
func TestReadOnlyBesideWriter(t *testing.T) {
	ctx := context.Background()
	root, _ := filledStore(t)
	w, err := store.Open(ctx, store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	plainStore(t, w, "fixture/dense", "plain/app", "v2")
	if _, err := os.Stat(filepath.Join(root, store.DBFile+"-wal")); err != nil {
		t.Fatalf("the writer has no WAL: %v", err)
	}
	st, err := store.Open(ctx, store.Options{Root: root, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := Inspect(ctx, StoreSource(st, "plain/app"), "plain/app:v2", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if rep.TDFS || len(rep.Manifests) != 2 {
		t.Errorf("plain/app:v2: tdfs %v, %d manifests", rep.TDFS, len(rep.Manifests))
	}
}

// TestStoreSourceWithoutSizes: a store source whose flatten.Source cannot
// report sizes in one call answers none (flatten asks one by one) instead
// of panicking.
func TestStoreSourceWithoutSizes(t *testing.T) {
	l, err := ocilayout.Open(fixture(t, "tdfs-image"))
	if err != nil {
		t.Fatal(err)
	}
	s := &storeSource{Source: LayoutSource(l)}
	got, err := s.BlobSizes(context.Background(), []digest.Digest{digest.FromString("x")})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("BlobSizes = %v, %v; want an empty map", got, err)
	}
}
