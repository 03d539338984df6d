package gc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/store"
)

// seedSpec describes synthetic content written straight into a store's
// metadata and filesystem backend (fast: one transaction, no fsync), the
// way pushes would have left it: each manifest has a config and Layers-1
// layers of its own, tiny real blob files. The first Garbage manifests of
// each repository are untagged (collectable with --untagged), the others
// tagged. Everything is Age old.
type seedSpec struct {
	Prefix    string // repositories are Prefix0, Prefix1, ...
	Repos     int
	Manifests int // per repository
	Blobs     int // per manifest (config included)
	Garbage   int // untagged manifests per repository
	Age       time.Duration
	// Distribution, if set, is where the same content is also written as
	// a store of distribution's filesystem driver (docker/registry/v2).
	Distribution string
}

// seeded is what seed wrote.
type seeded struct {
	liveManifests, deadManifests int
	liveBlobs, deadBlobs         int
	deadBlobBytes                int64
	// tags: repository -> tag -> manifest digest
	tags map[string]map[string]digest.Digest
	// blobsOf: manifest digest -> its blobs (config first)
	blobsOf map[digest.Digest][]ocispec.Descriptor
}

// seed writes sp into the store at root (which must have been opened once,
// for its schema and backend directories).
func seed(t testing.TB, root string, sp seedSpec) *seeded {
	t.Helper()
	db := openDB(t, root)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	prep := func(q string) func(args ...any) {
		st, err := tx.Prepare(q)
		if err != nil {
			t.Fatal(err)
		}
		return func(args ...any) {
			if _, err := st.Exec(args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	insRepo := prep(`INSERT INTO repos (name, created) VALUES (?, ?)`)
	insBlob := prep(`INSERT INTO blobs (digest, size, created, touched) VALUES (?, ?, ?, ?)`)
	insLink := prep(`INSERT INTO repo_blobs (repo, digest, touched) VALUES ((SELECT id FROM repos WHERE name = ?), ?, ?)`)
	insMan := prep(`INSERT INTO manifests (repo, digest, media_type, size, body, created) VALUES ((SELECT id FROM repos WHERE name = ?), ?, ?, ?, ?, ?)`)
	insRef := prep(`INSERT INTO refs (repo, parent, kind, child) VALUES ((SELECT id FROM repos WHERE name = ?), ?, 1, ?)`)
	insTag := prep(`INSERT INTO tags (repo, name, digest, updated) VALUES ((SELECT id FROM repos WHERE name = ?), ?, ?, ?)`)
	ts := time.Now().Add(-sp.Age).UnixMilli()
	out := &seeded{tags: map[string]map[string]digest.Digest{}, blobsOf: map[digest.Digest][]ocispec.Descriptor{}}
	blobDir := filepath.Join(root, "blobs", "sha256")
	dist := distWriter{t: t, root: sp.Distribution}
	// Files are written by a few goroutines: creating files is most of the
	// time this takes.
	files := make(chan file, 1024)
	var wg sync.WaitGroup
	var ferr error
	var ferrOnce sync.Once
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range files {
				if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
					ferrOnce.Do(func() { ferr = err })
				}
			}
		}()
	}
	dist.files = files
	for r := range sp.Repos {
		repo := fmt.Sprintf("%s%d", sp.Prefix, r)
		insRepo(repo, ts)
		out.tags[repo] = map[string]digest.Digest{}
		for m := range sp.Manifests {
			dead := m < sp.Garbage
			var descs []ocispec.Descriptor
			for b := range sp.Blobs {
				data := []byte(fmt.Sprintf("%s/%d/%d %x", repo, m, b, time.Now().UnixNano()))
				d := digest.FromBytes(data)
				files <- file{filepath.Join(blobDir, d.Encoded()[:2], d.Encoded()), data}
				insBlob(d.String(), len(data), ts, ts)
				insLink(repo, d.String(), ts)
				dist.blob(d, data)
				dist.link(repo, "_layers", d)
				mt := ocispec.MediaTypeImageLayerGzip
				if b == 0 {
					mt = ocispec.MediaTypeImageConfig
				}
				descs = append(descs, ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(data))})
				if dead {
					out.deadBlobs++
					out.deadBlobBytes += int64(len(data))
				} else {
					out.liveBlobs++
				}
			}
			body, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
				MediaType: ocispec.MediaTypeImageManifest, Config: descs[0], Layers: descs[1:]})
			if err != nil {
				t.Fatal(err)
			}
			md := digest.FromBytes(body)
			insMan(repo, md.String(), ocispec.MediaTypeImageManifest, len(body), body, ts)
			dist.blob(md, body)
			dist.link(repo, "_manifests/revisions", md)
			for _, d := range descs {
				insRef(repo, md.String(), d.Digest.String())
			}
			out.blobsOf[md] = descs
			if dead {
				out.deadManifests++
				continue
			}
			out.liveManifests++
			tag := fmt.Sprintf("t%d", m)
			insTag(repo, tag, md.String(), ts)
			out.tags[repo][tag] = md
			dist.tag(repo, tag, md)
		}
	}
	close(files)
	wg.Wait()
	if ferr != nil {
		t.Fatal(ferr)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return out
}

// initStore creates a store at root (schema, backend directories).
func initStore(t testing.TB, root string) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// distWriter writes distribution's filesystem layout (its storage/paths.go);
// a zero root writes nothing.
type distWriter struct {
	t     testing.TB
	root  string
	files chan<- file
}

type file struct {
	path string
	data []byte
}

func (w distWriter) write(rel string, data []byte) {
	p := filepath.Join(w.root, "docker", "registry", "v2", rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	w.files <- file{p, data}
}

func (w distWriter) blob(d digest.Digest, data []byte) {
	if w.root != "" {
		w.write(filepath.Join("blobs", "sha256", d.Encoded()[:2], d.Encoded(), "data"), data)
	}
}

func (w distWriter) link(repo, dir string, d digest.Digest) {
	if w.root != "" {
		w.write(filepath.Join("repositories", repo, dir, "sha256", d.Encoded(), "link"), []byte(d.String()))
	}
}

func (w distWriter) tag(repo, tag string, d digest.Digest) {
	if w.root != "" {
		w.write(filepath.Join("repositories", repo, "_manifests", "tags", tag, "current", "link"), []byte(d.String()))
		w.write(filepath.Join("repositories", repo, "_manifests", "tags", tag, "index", "sha256", d.Encoded(), "link"), []byte(d.String()))
	}
}
