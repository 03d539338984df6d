package store

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestUploadLockKeptWhileQueued: a request refused for naming the wrong
// repository must not drop the session's lock while another request on the
// session is queued for it; otherwise a later request would get a fresh lock
// and write to the session at the same time as the queued one.
func TestUploadLockKeptWhileQueued(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.StartUpload(ctx, "right")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartUpload(ctx, "wrong"); err != nil { // the repository exists
		t.Fatal(err)
	}
	// Request A holds the session; request C is queued behind it (counted
	// in refs, not yet holding the mutex).
	l := s.lockUpload(u.ID)
	s.uploadMu.Lock()
	l.refs++
	s.uploadMu.Unlock()
	s.unlockUpload(u.ID, l, false) // A is done; C is next in line

	// Request B names the wrong repository and is refused.
	if _, err := s.AppendUpload(ctx, "wrong", u.ID, -1, -1, strings.NewReader("x")); err == nil {
		t.Fatal("AppendUpload from another repository succeeded")
	}
	// A request D arriving now must queue on the same lock as C.
	s.uploadMu.Lock()
	got := s.uploads[u.ID]
	s.uploadMu.Unlock()
	if got != l {
		t.Fatalf("the session's lock was dropped while a request was queued on it (got %p, want %p)", got, l)
	}
	// C proceeds and finishes normally.
	l.mu.Lock()
	s.unlockUpload(u.ID, l, false)
	if _, err := s.FinishUpload(ctx, "right", u.ID, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", -1, -1, nil); err != nil {
		t.Fatal(err)
	}
	s.uploadMu.Lock()
	_, left := s.uploads[u.ID]
	s.uploadMu.Unlock()
	if left {
		t.Fatal("a finished session's lock was kept")
	}
}

// shortWriter accepts at most limit bytes in all, then fails.
type shortWriter struct {
	buf   []byte
	limit int
}

func (w *shortWriter) Write(p []byte) (int, error) {
	room := w.limit - len(w.buf)
	if room >= len(p) {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	w.buf = append(w.buf, p[:room]...)
	return room, errors.New("disk full")
}

func TestHashedWriterShortWrite(t *testing.T) {
	w := &shortWriter{limit: 3}
	h := sha256.New()
	n, err := hashedWriter{w, h}.Write([]byte("hello"))
	if n != 3 || err == nil {
		t.Fatalf("Write = %d, %v; want 3 and an error", n, err)
	}
	if got, want := digest.NewDigest(digest.SHA256, h), digest.FromBytes(w.buf); got != want {
		t.Fatalf("hash covers other bytes than were written: %s, want %s", got, want)
	}
}
