package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// Two Stores on one root stand for two processes (serve and an offline
// command): a change made through one must be seen by the other at once,
// although the other answered the same lookup from its cache before.
func TestManifestCacheAcrossStores(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	a, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.cache == nil || b.cache == nil {
		t.Fatal("no manifest cache: shared generation counters unavailable")
	}
	cfg := []byte(`{}`)
	cd := digest.FromBytes(cfg)
	if _, err := a.PutBlob(ctx, "r/x", cd, int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
		t.Fatal(err)
	}
	manifest := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[],"annotations":{"i":"%d"}}`, cd, i))
	}
	put := func(s *Store, i int) digest.Digest {
		t.Helper()
		res, err := s.PutManifest(ctx, "r/x", "latest", "application/vnd.oci.image.manifest.v1+json", manifest(i))
		if err != nil {
			t.Fatal(err)
		}
		return res.Digest
	}
	get := func(s *Store, ref string) (digest.Digest, error) {
		t.Helper()
		m, err := s.GetManifest(ctx, "r/x", ref)
		if err != nil {
			return "", err
		}
		return m.Digest, nil
	}

	d1 := put(a, 1)
	for i := 0; i < 2; i++ { // the second answer comes from a's cache
		if got, err := get(a, "latest"); err != nil || got != d1 {
			t.Fatalf("a: latest = %s, %v; want %s", got, err, d1)
		}
	}
	d2 := put(b, 2) // "another process" moves the tag
	if got, err := get(a, "latest"); err != nil || got != d2 {
		t.Fatalf("a after b moved the tag: latest = %s, %v; want %s", got, err, d2)
	}
	if got, err := get(a, d1.String()); err != nil || got != d1 {
		t.Fatalf("a: by digest = %s, %v; want %s", got, err, d1)
	}
	if err := b.DeleteManifest(ctx, "r/x", d1.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := get(a, d1.String()); !oci.HasCode(err, oci.CodeManifestUnknown) {
		t.Fatalf("a after b deleted %s: %v, want MANIFEST_UNKNOWN", d1, err)
	}
	if err := b.DeleteManifest(ctx, "r/x", "latest"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(a, "latest"); !oci.HasCode(err, oci.CodeManifestUnknown) {
		t.Fatalf("a after b deleted the tag: %v, want MANIFEST_UNKNOWN", err)
	}
}
