package gc_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	_ "modernc.org/sqlite"

	"github.com/dfsreg/dfsreg/internal/store"
)

// fieldMediaType is the media type of a 2DFS field layer.
const fieldMediaType = "application/vnd.oci.image.layer.v1.2dfs.field"

// env builds store content by label and checks what a collection left.
type env struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	desc  map[string]ocispec.Descriptor // label -> descriptor
	repo  map[string]string             // label -> repository
	isMan map[string]bool               // label -> is a manifest
	// deleted: manifests deleted through the API (not by gc)
	deleted map[string]bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, ctx: context.Background(), st: st, desc: map[string]ocispec.Descriptor{}, repo: map[string]string{}, isMan: map[string]bool{}, deleted: map[string]bool{}}
}

func (e *env) record(repo, label string, d ocispec.Descriptor, manifest bool) ocispec.Descriptor {
	if old, ok := e.desc[label]; ok && (old.Digest != d.Digest || e.repo[label] != repo) {
		e.t.Fatalf("label %s used twice", label)
	}
	e.desc[label], e.repo[label], e.isMan[label] = d, repo, manifest
	return d
}

// blob uploads the blob labelled label (content derived from the label,
// so one label is one digest in every repository).
func (e *env) blob(repo, label string) ocispec.Descriptor {
	e.t.Helper()
	content, _, _ := strings.Cut(label, "@") // shared@a and shared@b: one blob in two repositories
	data := []byte("blob:" + content)
	return e.blobData(repo, label, data, ocispec.MediaTypeImageLayerGzip)
}

func (e *env) blobData(repo, label string, data []byte, mt string) ocispec.Descriptor {
	e.t.Helper()
	d := digest.FromBytes(data)
	if _, err := e.st.PutBlob(e.ctx, repo, d, int64(len(data)), bytes.NewReader(data)); err != nil {
		e.t.Fatalf("PutBlob %s: %v", label, err)
	}
	return e.record(repo, label, ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(data))}, false)
}

func (e *env) put(repo, label, tag string, v any, mt string) ocispec.Descriptor {
	e.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	d := digest.FromBytes(body)
	ref := tag
	if ref == "" {
		ref = d.String()
	}
	if _, err := e.st.PutManifest(e.ctx, repo, ref, mt, body); err != nil {
		e.t.Fatalf("PutManifest %s: %v", label, err)
	}
	return e.record(repo, label, ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}, true)
}

// image pushes an image manifest labelled label with a config of its own
// (label+".config") and the layers labelled (uploaded if new); tag "" pushes
// by digest.
func (e *env) image(repo, label, tag string, layers ...string) ocispec.Descriptor {
	e.t.Helper()
	cfg := e.blobData(repo, label+".config", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":"`+label+`"}`), ocispec.MediaTypeImageConfig)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg}
	for _, l := range layers {
		m.Layers = append(m.Layers, e.blob(repo, l))
	}
	return e.put(repo, label, tag, m, ocispec.MediaTypeImageManifest)
}

// index pushes an index of the manifests labelled children.
func (e *env) index(repo, label, tag string, children ...string) ocispec.Descriptor {
	e.t.Helper()
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, c := range children {
		d := e.desc[c]
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: c}
		idx.Manifests = append(idx.Manifests, d)
	}
	return e.put(repo, label, tag, idx, ocispec.MediaTypeImageIndex)
}

// referrer pushes an artifact whose subject is the manifest labelled
// subject (which need not exist: subj gives its descriptor then).
func (e *env) referrer(repo, label, tag string, subject ocispec.Descriptor) ocispec.Descriptor {
	e.t.Helper()
	cfg := e.blobData(repo, label+".cfg", []byte(`{"referrer":"`+label+`"}`), "application/vnd.example.sig.config+json")
	sig := e.blob(repo, label+".sig")
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sig", Config: cfg, Layers: []ocispec.Descriptor{sig}, Subject: &subject}
	return e.put(repo, label, tag, m, ocispec.MediaTypeImageManifest)
}

// tdfs pushes a 2DFS image: an index (label) of one platform manifest
// (label+".m") whose layers are a base layer (label+".base") and a field
// (label+".field") of one row holding the allotments labelled.
func (e *env) tdfs(repo, label, tag string, allotments ...string) ocispec.Descriptor {
	e.t.Helper()
	base := e.blob(repo, label+".base")
	type cell struct {
		Row    int    `json:"row"`
		Col    int    `json:"col"`
		Digest string `json:"digest"`
		DiffID string `json:"diffid"`
	}
	var cells []cell
	for i, a := range allotments {
		d := e.blob(repo, a)
		cells = append(cells, cell{0, i, d.Digest.Encoded(), d.Digest.Encoded()})
	}
	field, _ := json.Marshal(map[string]any{
		"rows":      []any{map[string]any{"allotments": cells, "allotments_size": len(cells)}},
		"rows_size": 1, "owner": "",
	})
	fd := e.blobData(repo, label+".field", field, fieldMediaType)
	cfg := e.blobData(repo, label+".config", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["`+base.Digest.String()+`"]}}`), ocispec.MediaTypeImageConfig)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg,
		Layers: []ocispec.Descriptor{base, fd}}
	e.put(repo, label+".m", "", m, ocispec.MediaTypeImageManifest)
	return e.index(repo, label, tag, label+".m")
}

// partition resolves a semantic tag and labels the result label, its
// child label+".m" and that child's config label+".config".
func (e *env) partition(repo, label, ref string) {
	e.t.Helper()
	m, err := e.st.Resolve(e.ctx, repo, ref)
	if err != nil {
		e.t.Fatalf("Resolve %s: %v", ref, err)
	}
	e.record(repo, label, ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body))}, true)
	var idx ocispec.Index
	if err := json.Unmarshal(m.Body, &idx); err != nil || len(idx.Manifests) != 1 {
		e.t.Fatalf("partition %s: %v (%d children)", ref, err, len(idx.Manifests))
	}
	c := idx.Manifests[0]
	e.record(repo, label+".m", c, true)
	cm, err := e.st.GetManifest(e.ctx, repo, c.Digest.String())
	if err != nil {
		e.t.Fatal(err)
	}
	var pm ocispec.Manifest
	if err := json.Unmarshal(cm.Body, &pm); err != nil {
		e.t.Fatal(err)
	}
	e.record(repo, label+".config", pm.Config, false)
}

// deleteManifest deletes the manifest labelled (and its tags) through the
// API.
func (e *env) deleteManifest(label string) {
	e.t.Helper()
	if err := e.st.DeleteManifest(e.ctx, e.repo[label], e.desc[label].Digest.String()); err != nil {
		e.t.Fatal(err)
	}
	e.deleted[label] = true
}

// age makes everything stored so far older by d.
func (e *env) age(d time.Duration) {
	e.t.Helper()
	db := openDB(e.t, e.st.Root())
	ms := d.Milliseconds()
	for _, q := range []string{
		`UPDATE manifests SET created = created - ?`,
		`UPDATE repo_blobs SET touched = touched - ?`,
		`UPDATE blobs SET touched = touched - ?, created = created - ?`,
		`UPDATE uploads SET updated = updated - ?, created = created - ?`,
	} {
		args := []any{ms}
		if strings.Count(q, "?") == 2 {
			args = append(args, ms)
		}
		if _, err := db.Exec(q, args...); err != nil {
			e.t.Fatal(err)
		}
	}
}

// openDB opens a store's metadata database beside the store.
func openDB(t testing.TB, root string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(root, store.DBFile)+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// present reports whether the object labelled is still in its repository
// (a blob: its link and its bytes).
func (e *env) present(label string) bool {
	e.t.Helper()
	d, ok := e.desc[label]
	if !ok {
		e.t.Fatalf("no object labelled %s", label)
	}
	repo := e.repo[label]
	if e.isMan[label] {
		_, err := e.st.GetManifest(e.ctx, repo, d.Digest.String())
		return err == nil
	}
	if _, err := e.st.StatBlob(e.ctx, repo, d.Digest); err != nil {
		return false
	}
	if err := e.st.VerifyBlob(e.ctx, repo, d.Digest); err != nil {
		e.t.Fatalf("blob %s is linked but does not verify: %v", label, err)
	}
	return true
}

// bytesGone reports whether the backend no longer holds the blob labelled.
func (e *env) bytesGone(label string) bool {
	e.t.Helper()
	_, err := e.st.Backend().Stat(e.ctx, e.desc[label].Digest)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err != nil
}

// consistent fails the test when the store's integrity check finds
// anything.
func consistent(t testing.TB, st *store.Store) {
	t.Helper()
	problems, err := st.CheckIntegrity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("store inconsistent:\n%s", strings.Join(problems, "\n"))
	}
}

func labels(ls ...string) []string { return ls }
