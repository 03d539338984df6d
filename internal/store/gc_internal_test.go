package store

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// hookBackend is the filesystem backend with a hook that runs right after a
// staged upload is committed (before the store links it) and deletions
// that can be made to fail.
type hookBackend struct {
	*FS
	mu       sync.Mutex
	onCommit func(digest.Digest)
	failDel  error
}

func (b *hookBackend) Stage(ctx context.Context, handle string, offset int64) (Staged, error) {
	st, err := b.FS.Stage(ctx, handle, offset)
	if err != nil {
		return nil, err
	}
	return &hookStaged{Staged: st, b: b}, nil
}

func (b *hookBackend) Delete(ctx context.Context, d digest.Digest) error {
	b.mu.Lock()
	err := b.failDel
	b.mu.Unlock()
	if err != nil {
		return err
	}
	return b.FS.Delete(ctx, d)
}

type hookStaged struct {
	Staged
	b *hookBackend
}

func (s *hookStaged) Commit(ctx context.Context, d digest.Digest, verify bool) error {
	if err := s.Staged.Commit(ctx, d, verify); err != nil {
		return err
	}
	s.b.mu.Lock()
	hook := s.b.onCommit
	s.b.onCommit = nil
	s.b.mu.Unlock()
	if hook != nil {
		hook(d)
	}
	return nil
}

func newHookStore(t *testing.T) (*Store, *hookBackend) {
	t.Helper()
	root := t.TempDir()
	fsb, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	b := &hookBackend{FS: fsb}
	s, err := Open(t.Context(), Options{Root: root, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, b
}

// orphan stores data in repository "old" and removes it from there, so
// that the blob is linked nowhere: what gc retires.
func orphan(t *testing.T, s *Store, data []byte) digest.Digest {
	t.Helper()
	ctx := t.Context()
	d := digest.FromBytes(data)
	if _, err := s.PutBlob(ctx, "old", d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBlob(ctx, "old", d); err != nil {
		t.Fatal(err)
	}
	return d
}

// future is a cutoff after everything stored: all of it counts as old.
func future() time.Time { return time.Now().Add(time.Hour) }

func (s *Store) hasBlobRow(t *testing.T, d digest.Digest) bool {
	t.Helper()
	var n int
	if err := s.db.queryRow(t.Context(), `SELECT COUNT(*) FROM blobs WHERE digest = ?`, d.String()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func checkIntegrity(t *testing.T, s *Store) {
	t.Helper()
	problems, err := s.CheckIntegrity(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// An upload of a blob gc is deleting: Commit keeps the bytes already there
// (deduplication), gc deletes them before the upload links the blob. The
// upload must fail (no 201) and leave no blob record without bytes; a new
// upload then succeeds.
func TestFinishUploadRacingGC(t *testing.T) {
	for _, tc := range []struct {
		name string
		// gc runs this between the upload's Commit and its link.
		gc func(t *testing.T, s *Store, b *hookBackend, d digest.Digest)
		// survives: the upload succeeds (the bytes are still there).
		survives bool
	}{
		{"retired and deleted", func(t *testing.T, s *Store, b *hookBackend, d digest.Digest) {
			if _, err := s.RetireBlobs(t.Context(), future(), nil); err != nil {
				t.Fatal(err)
			}
			res, err := s.DeletePending(t.Context())
			if err != nil || len(res.Deleted) != 1 {
				t.Fatalf("DeletePending: %+v, %v", res, err)
			}
		}, false},
		{"retired, deletion killed after removing the bytes", func(t *testing.T, s *Store, b *hookBackend, d digest.Digest) {
			if _, err := s.RetireBlobs(t.Context(), future(), nil); err != nil {
				t.Fatal(err)
			}
			// What a gc killed inside DeletePending leaves: bytes gone,
			// the transaction (and its epoch bump) rolled back.
			if err := b.FS.Delete(t.Context(), d); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"retired, not yet deleted", func(t *testing.T, s *Store, b *hookBackend, d digest.Digest) {
			if _, err := s.RetireBlobs(t.Context(), future(), nil); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, b := newHookStore(t)
			data := []byte("content gc and an upload both want")
			d := orphan(t, s, data)
			b.onCommit = func(got digest.Digest) {
				if got == d {
					tc.gc(t, s, b, d)
				}
			}
			_, err := s.PutBlob(ctx, "new", d, int64(len(data)), bytes.NewReader(data))
			if tc.survives {
				if err != nil {
					t.Fatalf("upload failed though the bytes were there: %v", err)
				}
				if err := s.VerifyBlob(ctx, "new", d); err != nil {
					t.Fatal(err)
				}
				// The pending deletion must now leave the bytes alone.
				res, err := s.DeletePending(ctx)
				if err != nil || len(res.Relinked) != 1 || len(res.Deleted) != 0 {
					t.Fatalf("DeletePending after the re-upload: %+v, %v", res, err)
				}
				if err := s.VerifyBlob(ctx, "new", d); err != nil {
					t.Fatalf("re-uploaded blob lost its bytes: %v", err)
				}
				checkIntegrity(t, s)
				return
			}
			if !oci.HasCode(err, oci.CodeBlobUploadInvalid) {
				t.Fatalf("upload over deleted bytes: err = %v, want BLOB_UPLOAD_INVALID", err)
			}
			if _, err := s.StatBlob(ctx, "new", d); !oci.HasCode(err, oci.CodeBlobUnknown) {
				t.Fatalf("failed upload left the blob visible: %v", err)
			}
			if s.hasBlobRow(t, d) {
				t.Fatal("failed upload left a blob record without bytes")
			}
			var sessions int
			if err := s.db.queryRow(ctx, `SELECT COUNT(*) FROM uploads`).Scan(&sessions); err != nil || sessions != 0 {
				t.Fatalf("upload sessions left: %d, %v", sessions, err)
			}
			// The client uploads again: this time the bytes are written.
			if _, err := s.PutBlob(ctx, "new", d, int64(len(data)), bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if err := s.VerifyBlob(ctx, "new", d); err != nil {
				t.Fatal(err)
			}
			// A pending row left by the killed deletion is finished
			// without touching the re-uploaded bytes.
			if _, err := s.DeletePending(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.VerifyBlob(ctx, "new", d); err != nil {
				t.Fatalf("re-uploaded blob lost its bytes: %v", err)
			}
			checkIntegrity(t, s)
		})
	}
}

// A fresh upload of new content while no gc runs is linked without asking
// the backend again; the check is only made when a gc may have interfered.
func TestFinishUploadNoGC(t *testing.T) {
	ctx := t.Context()
	s, _ := newHookStore(t)
	data := []byte("plain")
	d := digest.FromBytes(data)
	if _, err := s.PutBlob(ctx, "r", d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyBlob(ctx, "r", d); err != nil {
		t.Fatal(err)
	}
}

// A gc killed after retiring blobs (metadata gone, bytes not yet deleted)
// leaves gc_pending rows that the next DeletePending finishes; a deletion
// the backend refuses stays pending.
func TestDeletePendingFinishesAndRetries(t *testing.T) {
	ctx := t.Context()
	s, b := newHookStore(t)
	var ds []digest.Digest
	for i := range 3 {
		ds = append(ds, orphan(t, s, []byte{byte(i), 'x'}))
	}
	retired, err := s.RetireBlobs(ctx, future(), nil)
	if err != nil || len(retired) != 3 {
		t.Fatalf("RetireBlobs: %d, %v", len(retired), err)
	}
	// "Killed" here: reopen the store, as the next run would.
	root := s.Root()
	s.Close()
	s2, err := Open(ctx, Options{Root: root, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	problems, err := s2.CheckIntegrity(ctx)
	if err != nil || len(problems) != 1 {
		t.Fatalf("integrity with pending deletions: %q, %v", problems, err)
	}
	b.failDel = errors.New("backend unavailable")
	res, err := s2.DeletePending(ctx)
	if err != nil || len(res.Failed) != 3 || len(res.Deleted) != 0 {
		t.Fatalf("DeletePending with a failing backend: %+v, %v", res, err)
	}
	for _, d := range ds {
		if _, err := b.FS.Stat(ctx, d); err != nil {
			t.Fatalf("bytes of %s gone though the deletion failed: %v", d, err)
		}
	}
	b.failDel = nil
	res, err = s2.DeletePending(ctx)
	if err != nil || len(res.Deleted) != 3 {
		t.Fatalf("DeletePending: %+v, %v", res, err)
	}
	for _, d := range ds {
		if _, err := b.FS.Stat(ctx, d); !errors.Is(err, ErrNotFound) {
			t.Fatalf("bytes of %s still there: %v", d, err)
		}
	}
	checkIntegrity(t, s2)
}

// RetireBlobs leaves linked blobs and blobs touched after the cutoff.
func TestRetireBlobsRespectsLinksAndCutoff(t *testing.T) {
	ctx := t.Context()
	s, _ := newHookStore(t)
	linked := []byte("linked")
	ld := digest.FromBytes(linked)
	if _, err := s.PutBlob(ctx, "r", ld, int64(len(linked)), bytes.NewReader(linked)); err != nil {
		t.Fatal(err)
	}
	od := orphan(t, s, []byte("orphan"))
	retired, err := s.RetireBlobs(ctx, time.Now().Add(-time.Hour), nil)
	if err != nil || len(retired) != 0 {
		t.Fatalf("retired %v (%v) with a cutoff before everything", retired, err)
	}
	retired, err = s.RetireBlobs(ctx, future(), nil)
	if err != nil || len(retired) != 1 || retired[0].Digest != od {
		t.Fatalf("retired %v (%v), want only %s", retired, err, od)
	}
	if !s.hasBlobRow(t, ld) {
		t.Fatal("linked blob retired")
	}
}
