package store

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// locBackend is a filesystem backend that reports a location for every
// commit (as the IPFS backend reports a CID) and records which read path
// the store takes.
type locBackend struct {
	*FS
	mu      sync.Mutex
	gen     string // prefix of the locators it hands out
	opened  []string
	located []string
}

func (b *locBackend) Stage(ctx context.Context, handle string, offset int64) (Staged, error) {
	st, err := b.FS.Stage(ctx, handle, offset)
	if err != nil {
		return nil, err
	}
	return &locStaged{Staged: st, gen: b.gen}, nil
}

func (b *locBackend) Open(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	b.mu.Lock()
	b.opened = append(b.opened, d.String())
	b.mu.Unlock()
	return b.FS.Open(ctx, d, offset, length)
}

func (b *locBackend) OpenLocated(ctx context.Context, d digest.Digest, locator string, offset, length int64) (io.ReadCloser, error) {
	b.mu.Lock()
	b.located = append(b.located, locator)
	b.mu.Unlock()
	return b.FS.Open(ctx, d, offset, length)
}

func (b *locBackend) DeleteLocated(ctx context.Context, d digest.Digest, _ string) error {
	return b.FS.Delete(ctx, d)
}

type locStaged struct {
	Staged
	gen string
	loc Location
}

func (s *locStaged) Commit(ctx context.Context, d digest.Digest, verify bool) error {
	if err := s.Staged.Commit(ctx, d, verify); err != nil {
		return err
	}
	s.loc = Location{Locator: s.gen + d.Encoded()[:12], Pinned: true}
	return nil
}

func (s *locStaged) Location() Location { return s.loc }

func newLocBackend(t *testing.T, gen string) *locBackend {
	fs, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &locBackend{FS: fs, gen: gen}
}

func openLoc(t *testing.T, root string, b Backend) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Root: root, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func putLoc(t *testing.T, s *Store, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	if _, err := s.PutBlob(t.Context(), repo, d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return d
}

func readLoc(t *testing.T, s *Store, repo string, d digest.Digest) []byte {
	t.Helper()
	rc, err := s.OpenBlob(t.Context(), repo, d, 0, -1)
	if err != nil {
		t.Fatalf("OpenBlob(%s, %s): %v", repo, d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLocationRecorded: the location a Located commit reports is stored
// with the blob, returned by BlobLocation (also after a mount), and handed
// to OpenLocated on reads; a later commit's location replaces it, a link
// without one keeps it.
func TestLocationRecorded(t *testing.T) {
	b := newLocBackend(t, "one:")
	s := openLoc(t, t.TempDir(), b)
	ctx := t.Context()
	data := []byte("located blob")
	d := putLoc(t, s, "a", data)
	want := Location{Locator: "one:" + d.Encoded()[:12], Pinned: true}
	if loc, err := s.BlobLocation(ctx, "a", d); err != nil || loc != want {
		t.Fatalf("BlobLocation = %+v, %v; want %+v", loc, err, want)
	}
	if got := readLoc(t, s, "a", d); !bytes.Equal(got, data) {
		t.Fatalf("OpenBlob read %q", got)
	}
	if len(b.located) != 1 || b.located[0] != want.Locator || len(b.opened) != 0 {
		t.Fatalf("reads: OpenLocated %v, Open %v; want one OpenLocated(%s)", b.located, b.opened, want.Locator)
	}
	if ok, err := s.MountBlob(ctx, "a", "b", d); err != nil || !ok {
		t.Fatalf("MountBlob: %v, %v", ok, err)
	}
	if loc, err := s.BlobLocation(ctx, "b", d); err != nil || loc != want {
		t.Fatalf("BlobLocation after mount = %+v, %v; want %+v", loc, err, want)
	}
	if _, err := s.BlobLocation(ctx, "c", d); err == nil {
		t.Fatal("BlobLocation in a repository without the blob succeeded")
	}
	// A link without a location (generated blobs) keeps the recorded one.
	if err := s.db.update(ctx, func(tx *tx) error { return s.linkBlob(tx, "c", d, int64(len(data))) }); err != nil {
		t.Fatal(err)
	}
	if loc, _ := s.BlobLocation(ctx, "c", d); loc != want {
		t.Fatalf("after a link without location: %+v, want %+v", loc, want)
	}
	// The same blob committed again at another location: the new one wins.
	b.gen = "two:"
	putLoc(t, s, "a", data)
	want2 := Location{Locator: "two:" + d.Encoded()[:12], Pinned: true}
	if loc, _ := s.BlobLocation(ctx, "b", d); loc != want2 {
		t.Fatalf("after a second commit: %+v, want %+v", loc, want2)
	}
}

// TestLocationNone: a backend without locations records none and reads by
// digest.
func TestLocationNone(t *testing.T) {
	s := openLoc(t, t.TempDir(), nil)
	d := putLoc(t, s, "a", []byte("plain"))
	if loc, err := s.BlobLocation(t.Context(), "a", d); err != nil || loc != (Location{}) {
		t.Fatalf("BlobLocation on the filesystem backend = %+v, %v; want none", loc, err)
	}
	if got := readLoc(t, s, "a", d); string(got) != "plain" {
		t.Fatalf("read %q", got)
	}
}

// TestLocationMigration: a store made before migration 3 opens, its blobs
// read by digest, and new commits record locations.
func TestLocationMigration(t *testing.T) {
	root := t.TempDir()
	b := newLocBackend(t, "new:")
	all := migrations
	migrations = all[:2]
	old, err := Open(t.Context(), Options{Root: root, Backend: b.FS})
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	// A blob as the code of then linked it (its bytes by digest, its rows
	// without the new columns).
	oldData := []byte("from before")
	oldD := digest.FromBytes(oldData)
	st, err := b.FS.Stage(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	st.Write(oldData)
	if err := st.Commit(t.Context(), oldD, true); err != nil {
		t.Fatal(err)
	}
	err = old.db.update(t.Context(), func(tx *tx) error {
		id, err := old.ensureRepo(tx, "a")
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO blobs (digest, size, created, touched) VALUES (?, ?, 0, 0)`, oldD.String(), len(oldData)); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO repo_blobs (repo, digest, touched) VALUES (?, ?, 0)`, id, oldD.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	s := openLoc(t, root, b)
	if loc, err := s.BlobLocation(t.Context(), "a", oldD); err != nil || loc != (Location{}) {
		t.Fatalf("old blob: BlobLocation = %+v, %v; want none", loc, err)
	}
	if got := readLoc(t, s, "a", oldD); string(got) != "from before" || len(b.opened) != 1 || len(b.located) != 0 {
		t.Fatalf("old blob read %q via Open %v / OpenLocated %v; want by digest", got, b.opened, b.located)
	}
	d := putLoc(t, s, "a", []byte("after"))
	if loc, _ := s.BlobLocation(t.Context(), "a", d); loc.Locator != "new:"+d.Encoded()[:12] {
		t.Fatalf("new blob: BlobLocation = %+v", loc)
	}
}
