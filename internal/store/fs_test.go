package store_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/storetest"
)

func newFS(t *testing.T) store.Backend {
	b, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openStore(t *testing.T, root string) *store.Store {
	s, err := store.Open(t.Context(), store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestFSBackend(t *testing.T) {
	storetest.RunBackend(t, newFS)
}

func TestFSStore(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) *store.Store { return openStore(t, t.TempDir()) })
}

// TestFSStoreSeparateBackend runs the Store suite with the blobs in another
// directory than the metadata, given as Options.Backend.
func TestFSStoreSeparateBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("the same suite as TestFSStore")
	}
	storetest.RunStore(t, func(t *testing.T) *store.Store {
		s, err := store.Open(t.Context(), store.Options{Root: t.TempDir(), Backend: newFS(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// blobFiles checks that every file under root/blobs is a complete blob (its
// bytes hash to its name) and returns how many there are.
func blobFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(root, "blobs"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		alg := filepath.Base(filepath.Dir(filepath.Dir(p)))
		if got, want := digest.NewDigestFromEncoded(digest.Algorithm(alg), filepath.Base(p)), digest.FromBytes(b); got != want {
			t.Errorf("blob file %s holds %s", p, want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func stagedFiles(t *testing.T, root string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(root, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestFSNoPartialBlobVisible: bytes staged but not committed are never a
// blob, whether the upload is open, closed, or its process is gone.
func TestFSNoPartialBlobVisible(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	b, err := store.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	data := storetest.Payload(1, 1<<20)
	d := digest.FromBytes(data)
	st, err := b.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	notVisible := func(b store.Backend, what string) {
		t.Helper()
		if _, err := b.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: Stat = %v, want ErrNotFound", what, err)
		}
		if rc, err := b.Open(ctx, d, 0, -1); !errors.Is(err, store.ErrNotFound) {
			if err == nil {
				rc.Close()
			}
			t.Fatalf("%s: Open = %v, want ErrNotFound", what, err)
		}
		if n := blobFiles(t, root); n != 0 {
			t.Fatalf("%s: %d blob files", what, n)
		}
	}
	for off := 0; off < len(data); off += 256 << 10 {
		if _, err := st.Write(data[off : off+256<<10]); err != nil {
			t.Fatal(err)
		}
		notVisible(b, "while writing")
	}
	st.Close()
	notVisible(b, "closed")
	// As after a restart: a new backend over the same directory.
	b2, err := store.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	notVisible(b2, "new backend")
	// A verified commit of the wrong digest leaves nothing either.
	st, err = b2.Stage(ctx, st.Handle(), int64(len(data)-1))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, d, true); !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Commit(verify) of a truncated upload = %v", err)
	}
	notVisible(b2, "failed commit")
	if err := st.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if s := stagedFiles(t, root); len(s) != 0 {
		t.Fatalf("staged files left after Abort: %q", s)
	}
}

// TestFSStoreUploadNotVisible: through the Store, a chunked upload is not a
// blob, in any repository, until FinishUpload.
func TestFSStoreUploadNotVisible(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s := openStore(t, root)
	data := storetest.Payload(2, 1<<20)
	d := digest.FromBytes(data)
	u, err := s.StartUpload(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, "a", u.ID, 0, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatBlob(ctx, "a", d); !oci.HasCode(err, oci.CodeBlobUnknown) {
		t.Fatalf("StatBlob of an unfinished upload = %v", err)
	}
	if _, err := s.Backend().Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("backend Stat of an unfinished upload = %v", err)
	}
	if n := blobFiles(t, root); n != 0 {
		t.Fatalf("%d blob files before FinishUpload", n)
	}
	if _, err := s.FinishUpload(ctx, "a", u.ID, d, -1, -1, nil); err != nil {
		t.Fatal(err)
	}
	if n := blobFiles(t, root); n != 1 {
		t.Fatalf("%d blob files after FinishUpload, want 1", n)
	}
	if st := stagedFiles(t, root); len(st) != 0 {
		t.Fatalf("staged files left after FinishUpload: %q", st)
	}
}

// TestFSStagedCleanup: the Store leaves no staged file behind after a
// finished, cancelled, rejected or deduplicated upload.
func TestFSStagedCleanup(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s := openStore(t, root)
	data := storetest.Payload(3, 100_000)
	d := digest.FromBytes(data)
	for i := range 2 { // the second is deduplicated
		if _, err := s.PutBlob(ctx, "a", d, int64(len(data)), bytes.NewReader(data)); err != nil {
			t.Fatalf("PutBlob %d: %v", i, err)
		}
	}
	if _, err := s.PutBlob(ctx, "a", digest.FromString("x"), int64(len(data)), bytes.NewReader(data)); !oci.HasCode(err, oci.CodeDigestInvalid) {
		t.Fatalf("PutBlob with a wrong digest = %v", err)
	}
	if _, err := s.PutBlob(ctx, "a", d, int64(len(data))+1, bytes.NewReader(data)); !oci.HasCode(err, oci.CodeSizeInvalid) {
		t.Fatalf("PutBlob with a short body = %v", err)
	}
	u, err := s.StartUpload(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, "a", u.ID, 0, 10, bytes.NewReader(data[:10])); err != nil {
		t.Fatal(err)
	}
	if err := s.CancelUpload(ctx, "a", u.ID); err != nil {
		t.Fatal(err)
	}
	if st := stagedFiles(t, root); len(st) != 0 {
		t.Fatalf("staged files left: %q", st)
	}
	if n := blobFiles(t, root); n != 1 {
		t.Fatalf("%d blob files, want 1", n)
	}
}

// TestFSResumeDamagedStaging: a session continued after a restart is verified
// on commit, so staged bytes damaged while the server was down are caught
// and never become a blob.
func TestFSResumeDamagedStaging(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	data := storetest.Payload(4, 2<<20)
	d := digest.FromBytes(data)
	s1, err := store.Open(ctx, store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s1.StartUpload(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.AppendUpload(ctx, "r", u.ID, 0, 1<<20, bytes.NewReader(data[:1<<20])); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	staged := stagedFiles(t, root)
	if len(staged) != 1 {
		t.Fatalf("staged files: %q, want one", staged)
	}
	p := filepath.Join(root, "uploads", staged[0])
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{data[1000] ^ 0xff}, 1000); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s2 := openStore(t, root)
	if _, err := s2.AppendUpload(ctx, "r", u.ID, 1<<20, 1<<20, bytes.NewReader(data[1<<20:])); err != nil {
		t.Fatal(err)
	}
	_, err = s2.FinishUpload(ctx, "r", u.ID, d, -1, -1, nil)
	if !oci.HasCode(err, oci.CodeBlobUploadInvalid) {
		t.Fatalf("FinishUpload over damaged staged bytes = %v, want BLOB_UPLOAD_INVALID", err)
	}
	if _, err := s2.StatBlob(ctx, "r", d); !oci.HasCode(err, oci.CodeBlobUnknown) {
		t.Fatalf("StatBlob after a failed verification = %v", err)
	}
	if n := blobFiles(t, root); n != 0 {
		t.Fatalf("%d blob files after a failed verification", n)
	}
	if _, err := s2.UploadStatus(ctx, "r", u.ID); !oci.HasCode(err, oci.CodeBlobUploadUnknown) {
		t.Fatalf("UploadStatus after a failed verification = %v", err)
	}
	// Uploaded again, it is stored.
	if _, err := s2.PutBlob(ctx, "r", d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s2.VerifyBlob(ctx, "r", d); err != nil {
		t.Fatal(err)
	}
}

// TestFSRejectsBadHandles: a staging handle never names a path outside the
// staging area.
func TestFSRejectsBadHandles(t *testing.T) {
	root := t.TempDir()
	b, err := store.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"../dfsreg.db", "../../etc/passwd", "/etc/passwd", strings.Repeat("g", 32), strings.Repeat("A", 32), "abc"} {
		if st, err := b.Stage(t.Context(), h, 0); err == nil {
			st.Abort(t.Context())
			t.Fatalf("Stage(%q) succeeded", h)
		}
	}
	if s := stagedFiles(t, root); len(s) != 0 {
		t.Fatalf("files created in the staging area: %q", s)
	}
}

// TestFSTwoStoresOneRoot: two Stores open on one root at once (as serve and
// gc would be) see each other's committed writes.
func TestFSTwoStoresOneRoot(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s1, s2 := openStore(t, root), openStore(t, root)
	a := storetest.Payload(5, 10_000)
	if _, err := s1.PutBlob(ctx, "shared", digest.FromBytes(a), int64(len(a)), bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
	if err := s2.VerifyBlob(ctx, "shared", digest.FromBytes(a)); err != nil {
		t.Fatalf("second store reading the first's blob: %v", err)
	}
	b := storetest.Payload(6, 10_000)
	if _, err := s2.PutBlob(ctx, "other", digest.FromBytes(b), int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := s1.VerifyBlob(ctx, "other", digest.FromBytes(b)); err != nil {
		t.Fatalf("first store reading the second's blob: %v", err)
	}
	if err := s2.DeleteBlob(ctx, "shared", digest.FromBytes(a)); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.StatBlob(ctx, "shared", digest.FromBytes(a)); !oci.HasCode(err, oci.CodeBlobUnknown) {
		t.Fatalf("first store after the second deleted the blob: %v", err)
	}
	// An upload started in one continues in the other.
	u, err := s1.StartUpload(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.AppendUpload(ctx, "shared", u.ID, 0, 5000, bytes.NewReader(a[:5000])); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.FinishUpload(ctx, "shared", u.ID, digest.FromBytes(a), 5000, 5000, bytes.NewReader(a[5000:])); err != nil {
		t.Fatalf("finishing in the second store an upload begun in the first: %v", err)
	}
	if err := s1.VerifyBlob(ctx, "shared", digest.FromBytes(a)); err != nil {
		t.Fatal(err)
	}
}
