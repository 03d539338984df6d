package ipfs_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/ipfs"
	"github.com/dfsreg/dfsreg/internal/store/storetest"
)

// TestReadOnly: a read-only backend (dfsreg inspect) reads blobs a
// read-write one added, by their recorded CID, from the node and not from
// the cache; it creates nothing in its cache directory and refuses writes
// and deletes.
func TestReadOnly(t *testing.T) {
	k := sharedNode(t)
	rwCache := t.TempDir()
	rw := newStore(t, newBackendOpt(t, ipfs.Options{API: k.api, CacheDir: rwCache}))
	small := storetest.Payload(1, 1000)
	large := storetest.Payload(2, 2*ipfs.ChunkSize+7)
	ds, ls := put(t, rw, "ro", small)
	dl, ll := put(t, rw, "ro", large)

	roCache := filepath.Join(t.TempDir(), "never")
	ro, err := ipfs.New(t.Context(), ipfs.Options{API: k.api, CacheDir: roCache, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, c := range []struct {
		d    digest.Digest
		loc  store.Location
		want []byte
	}{{ds, ls, small}, {dl, ll, large}} {
		rc, err := ro.OpenLocated(t.Context(), c.d, c.loc.Locator, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != string(c.want) {
			t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(c.want))
		}
	}
	if _, err := os.Stat(roCache); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only backend made %s: %v", roCache, err)
	}
	if st := ro.Stats(); st.CacheHits != 0 || st.CacheBlobs != 0 {
		t.Errorf("read-only backend used a cache: %+v", st)
	}
	if _, err := ro.Stage(t.Context(), "", 0); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("Stage: %v", err)
	}
	if err := ro.Delete(t.Context(), ds); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("Delete: %v", err)
	}
	if err := ro.DeleteLocated(t.Context(), dl, ll.Locator); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("DeleteLocated: %v", err)
	}
	// The blobs are still pinned.
	out, err := k.ipfs(t.Context(), "pin", "ls", "--type=recursive", ll.Locator)
	if err != nil {
		t.Fatalf("pin ls %s: %v\n%s", ll.Locator, err, out)
	}
}
