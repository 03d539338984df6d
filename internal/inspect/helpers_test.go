package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/ipfs"
	"github.com/dfsreg/dfsreg/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixture is a shared 2DFS fixture layout (../shared/testdata/2dfs beside
// the checkout).
func fixture(t testing.TB, name string) string {
	t.Helper()
	dir := testutil.Fixture2DFS(t, name)
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return dir
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run %s -update rewrites it)\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

func asJSON(t *testing.T, rep *Report) []byte {
	t.Helper()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func asText(t *testing.T, rep *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, rep, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fillStore stores image name of layout dir in repository repo under tag,
// every blob file of the layout included (allotments are referenced only
// by the field, so PutImage does not copy them).
func fillStore(t testing.TB, st *store.Store, dir, name, repo, tag string) {
	t.Helper()
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, filepath.Base(f))
		if _, err := st.PutBlob(ctx, repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := l.Find(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutImage(ctx, repo, tag, img.Descriptor, l, ""); err != nil {
		t.Fatal(err)
	}
}

// putReferrer stores an artifact (an empty config and layer) whose
// subject is subject, and returns its digest.
func putReferrer(t testing.TB, st *store.Store, repo string, subject ocispec.Descriptor, artifactType string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	empty := []byte("{}")
	ed := digest.FromBytes(empty)
	if _, err := st.PutBlob(ctx, repo, ed, 2, bytes.NewReader(empty)); err != nil {
		t.Fatal(err)
	}
	ref := referrerManifest(t, subject, artifactType)
	d := digest.FromBytes(ref)
	if _, err := st.PutManifest(ctx, repo, d.String(), ocispec.MediaTypeImageManifest, ref); err != nil {
		t.Fatal(err)
	}
	return d
}

func referrerManifest(t testing.TB, subject ocispec.Descriptor, artifactType string) []byte {
	empty := ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes([]byte("{}")), Size: 2}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType,
		Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: &subject,
		Annotations: map[string]string{"org.example.note": "attached in the test"}}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cidBackend is the filesystem backend reporting, for every commit, the
// CID the IPFS backend would record for a small blob (store.Located).
type cidBackend struct{ *store.FS }

func (b cidBackend) Stage(ctx context.Context, handle string, offset int64) (store.Staged, error) {
	s, err := b.FS.Stage(ctx, handle, offset)
	if err != nil {
		return nil, err
	}
	return &cidStaged{Staged: s}, nil
}

type cidStaged struct {
	store.Staged
	d digest.Digest
}

func (s *cidStaged) Commit(ctx context.Context, d digest.Digest, verify bool) error {
	s.d = d
	return s.Staged.Commit(ctx, d, verify)
}

func (s *cidStaged) Location() store.Location {
	c, err := ipfs.DigestCID(s.d)
	if err != nil {
		return store.Location{}
	}
	return store.Location{Locator: c.String(), Pinned: true}
}

var _ store.Located = (*cidStaged)(nil)

// neutral replaces what depends on the test's temporary directories.
func neutral(rep *Report, dirs ...string) *Report {
	for _, d := range dirs {
		rep.Location = strings.ReplaceAll(rep.Location, d, "$DIR")
		rep.Reference = strings.ReplaceAll(rep.Reference, d, "$DIR")
	}
	return rep
}

// plainStore tags to:tag the whole field of from:v1 flattened: a plain OCI
// image (no field).
func plainStore(t testing.TB, st *store.Store, from, to, tag string) {
	t.Helper()
	ctx := context.Background()
	src, err := st.GetManifest(ctx, from, "v1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := flatten.Flatten(ctx, st.Source(from), src.MediaType, src.Body, partition.All())
	if err != nil {
		t.Fatal(err)
	}
	files := ocilayout.WithBlobs(st.Content(from), res.Blobs()...)
	if _, err := st.PutImage(ctx, to, tag, res.Top.Descriptor(), files, from); err != nil {
		t.Fatal(err)
	}
}

func digestOf(s string) digest.Digest { return digest.Digest(s) }
