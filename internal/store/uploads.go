package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// An upload session's state lives in SQLite (offset, hash state, backend
// handle), so any request can continue it, in this process or after a
// restart. Requests on one session are serialised by an in-process lock.

type uploadLock struct {
	mu   sync.Mutex
	refs int
	// warm: every byte of this session was written by this process, so the
	// page cache holds them even if they were not yet fsynced. A session
	// continued after a restart is not warm and is verified on commit.
	warm bool
}

// Upload describes an upload session.
type Upload struct {
	ID     string
	Repo   string
	Offset int64
}

type uploadRow struct {
	repoID int64
	offset int64
	state  []byte
	handle string
}

func uploadUnknown(id string) error {
	return oci.Err(oci.CodeBlobUploadUnknown, "upload %q is unknown (finished, cancelled or expired)", truncate(id, 80))
}

// validUploadID: ids are 32 lowercase hex characters made by StartUpload.
func validUploadID(id string) bool {
	return len(id) == 32 && strings.Trim(id, "0123456789abcdef") == ""
}

func (s *Store) lockUpload(id string) *uploadLock {
	s.uploadMu.Lock()
	l := s.uploads[id]
	if l == nil {
		l = &uploadLock{}
		s.uploads[id] = l
	}
	l.refs++
	s.uploadMu.Unlock()
	l.mu.Lock()
	return l
}

func (s *Store) unlockUpload(id string, l *uploadLock, gone bool) {
	l.mu.Unlock()
	s.uploadMu.Lock()
	l.refs--
	// Only when no request is queued on l: a queued one holds l, and a new
	// one must wait for it, not get a fresh lock.
	if l.refs == 0 && (gone || !l.warm) {
		delete(s.uploads, id)
	}
	s.uploadMu.Unlock()
}

// StartUpload opens an upload session in repository repo.
func (s *Store) StartUpload(ctx context.Context, repo string) (*Upload, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(b[:])
	st, err := s.backend.Stage(ctx, "", 0)
	if err != nil {
		return nil, fmt.Errorf("staging upload: %w", err)
	}
	handle := st.Handle()
	st.Close()
	state, err := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	err = s.db.update(ctx, func(tx *tx) error {
		rid, err := s.ensureRepo(tx, repo)
		if err != nil {
			return err
		}
		now := unixNow()
		_, err = tx.Exec(`INSERT INTO uploads (id, repo, offset, hash_state, handle, created, updated) VALUES (?, ?, 0, ?, ?, ?, ?)`, id, rid, state, handle, now, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	l := s.lockUpload(id)
	l.warm = true
	s.unlockUpload(id, l, false)
	return &Upload{ID: id, Repo: repo}, nil
}

func (s *Store) loadUpload(ctx context.Context, repo, id string) (*uploadRow, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	if !validUploadID(id) {
		return nil, uploadUnknown(id)
	}
	var r uploadRow
	var name string
	err := s.db.queryRow(ctx, `SELECT u.repo, p.name, u.offset, u.hash_state, u.handle FROM uploads u JOIN repos p ON p.id = u.repo WHERE u.id = ?`, id).
		Scan(&r.repoID, &name, &r.offset, &r.state, &r.handle)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && name != repo) {
		return nil, uploadUnknown(id)
	}
	return &r, err
}

// UploadStatus returns the session's progress.
func (s *Store) UploadStatus(ctx context.Context, repo, id string) (*Upload, error) {
	r, err := s.loadUpload(ctx, repo, id)
	if err != nil {
		return nil, err
	}
	return &Upload{ID: id, Repo: repo, Offset: r.offset}, nil
}

// ErrRangeInvalid answers a chunk that does not start where the upload is.
func rangeInvalid(offset, start int64) error {
	return oci.Err(oci.CodeBlobUploadInvalid, "chunk starts at %d but the upload is at %d", start, offset).
		WithStatus(http.StatusRequestedRangeNotSatisfiable)
}

// session is one request's hold on an upload: the staged writer positioned at
// the recorded offset and the hash restored to it.
type session struct {
	s      *Store
	id     string
	repo   string
	row    *uploadRow
	lock   *uploadLock
	staged Staged
	h      hash.Hash
	n      int64 // bytes written by this request
}

func (s *Store) openSession(ctx context.Context, repo, id string) (*session, error) {
	l := s.lockUpload(id)
	row, err := s.loadUpload(ctx, repo, id)
	if err != nil {
		s.unlockUpload(id, l, true)
		return nil, err
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(row.state); err != nil {
		s.unlockUpload(id, l, false)
		return nil, fmt.Errorf("upload %s: bad hash state: %w", id, err)
	}
	st, err := s.backend.Stage(ctx, row.handle, row.offset)
	if err != nil {
		s.unlockUpload(id, l, false)
		return nil, fmt.Errorf("upload %s: resuming staged bytes: %w", id, err)
	}
	return &session{s: s, id: id, repo: repo, row: row, lock: l, staged: st, h: h}, nil
}

// copy streams r into the session, hashing as it goes. It returns the bytes
// written even when r fails midway (a dropped connection): those are kept and
// recorded, so the client can ask for the status and resume.
func (ss *session) copy(r io.Reader, limit int64) error {
	if r == nil {
		return nil
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	src := r
	if limit >= 0 {
		src = io.LimitReader(r, limit)
	}
	n, err := io.CopyBuffer(hashedWriter{ss.staged, ss.h}, src, *buf)
	ss.n += n
	if err == nil && limit >= 0 && n == limit {
		// The body must not go on past its declared length: a client that
		// sent more than it said would otherwise lose the rest silently.
		var one [1]byte
		if k, _ := io.ReadFull(r, one[:]); k > 0 {
			return errTooLong
		}
	}
	return err
}

var errTooLong = oci.Err(oci.CodeSizeInvalid, "the body is longer than its declared length (Content-Length or Content-Range)")

// hashedWriter writes to the staged upload and hashes exactly the bytes it
// accepted, even when it accepts only some of them and fails (a short write
// on a full disk): offset and hash state stay one.
type hashedWriter struct {
	w io.Writer
	h hash.Hash
}

func (hw hashedWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	return n, err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// save records the new offset and hash state (after a chunk).
func (ss *session) save(ctx context.Context) error {
	state, err := ss.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	handle := ss.staged.Handle()
	return ss.s.db.update(ctx, func(tx *tx) error {
		_, err := tx.Exec(`UPDATE uploads SET offset = ?, hash_state = ?, handle = ?, updated = ? WHERE id = ?`, ss.row.offset+ss.n, state, handle, unixNow(), ss.id)
		return err
	})
}

func (ss *session) release(gone bool) {
	ss.staged.Close()
	if !gone && ss.n > 0 && ss.row.offset == 0 {
		ss.lock.warm = true
	}
	ss.s.unlockUpload(ss.id, ss.lock, gone)
}

// AppendUpload writes a chunk. start is where the client says the chunk
// begins (from Content-Range), or -1 when it did not say; length is the
// chunk's declared length or -1. It returns the new offset.
func (s *Store) AppendUpload(ctx context.Context, repo, id string, start, length int64, r io.Reader) (int64, error) {
	ss, err := s.openSession(ctx, repo, id)
	if errors.Is(err, ErrStagedLost) {
		s.dropUpload(context.WithoutCancel(ctx), id, nil)
		return 0, lostUpload(id)
	}
	if err != nil {
		return 0, err
	}
	defer ss.release(false)
	if start >= 0 && start != ss.row.offset {
		return 0, rangeInvalid(ss.row.offset, start)
	}
	copyErr := ss.copy(r, length)
	if errors.Is(copyErr, errTooLong) {
		return ss.row.offset, copyErr // nothing of this chunk is recorded
	}
	if ss.n > 0 {
		if err := ss.save(context.WithoutCancel(ctx)); err != nil {
			return 0, err
		}
	}
	if copyErr != nil {
		return ss.row.offset + ss.n, copyErr
	}
	if length >= 0 && ss.n != length {
		return ss.row.offset + ss.n, oci.Err(oci.CodeSizeInvalid, "chunk has %d bytes, Content-Length said %d", ss.n, length)
	}
	return ss.row.offset + ss.n, nil
}

// FinishUpload writes the final chunk (r may be nil), checks the digest,
// commits the blob and ends the session. The blob is durable and visible when
// it returns.
func (s *Store) FinishUpload(ctx context.Context, repo, id string, d digest.Digest, start, length int64, r io.Reader) (int64, error) {
	ss, err := s.openSession(ctx, repo, id)
	if errors.Is(err, ErrStagedLost) {
		return s.finishLost(ctx, repo, id, d, length, r)
	}
	if err != nil {
		return 0, err
	}
	gone := false
	defer func() { ss.release(gone) }()
	if start >= 0 && start != ss.row.offset {
		return 0, rangeInvalid(ss.row.offset, start)
	}
	if err := ss.copy(r, length); err != nil {
		if ss.n > 0 && !errors.Is(err, errTooLong) {
			ss.save(context.WithoutCancel(ctx))
		}
		return 0, err
	}
	if length >= 0 && ss.n != length {
		ss.save(context.WithoutCancel(ctx))
		return 0, oci.Err(oci.CodeSizeInvalid, "body has %d bytes, Content-Length said %d", ss.n, length)
	}
	size := ss.row.offset + ss.n
	got := digest.NewDigest(digest.SHA256, ss.h)
	if got != d {
		// The client named other content than it sent: the session cannot
		// become that blob, so it ends here.
		gone = true
		s.dropUpload(context.WithoutCancel(ctx), id, ss.staged)
		return 0, oci.Err(oci.CodeDigestInvalid, "uploaded content has digest %s, not %s", got, d).WithDetail(map[string]string{"digest": d.String()})
	}
	ctx = context.WithoutCancel(ctx) // from here on, finish what was acknowledged
	// Read before Commit: Commit may keep bytes already in the backend,
	// which a concurrent gc may delete before the link below (gc.go).
	epoch, err := s.gcEpoch(ctx)
	if err != nil {
		return 0, err
	}
	if err := ss.staged.Commit(ctx, d, !ss.lock.warm); err != nil {
		if errors.Is(err, ErrDigestMismatch) {
			gone = true
			s.dropUpload(ctx, id, ss.staged)
			return 0, oci.Err(oci.CodeBlobUploadInvalid, "the upload's staged bytes were damaged (server restart); upload it again")
		}
		return 0, fmt.Errorf("committing blob %s: %w", d, err)
	}
	gone = true
	var loc Location
	if l, ok := ss.staged.(Located); ok {
		loc = l.Location()
	}
	err = s.db.update(ctx, func(tx *tx) error {
		if err := s.verifyCommitted(ctx, tx, d, epoch); err != nil {
			return err
		}
		if err := s.linkLocated(tx, repo, d, size, loc); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM uploads WHERE id = ?`, id)
		return err
	})
	if oci.HasCode(err, oci.CodeBlobUploadInvalid) {
		// gc deleted the bytes Commit relied on: the staged copy is gone
		// too, so the session ends here and the client uploads again.
		s.dropUpload(ctx, id, nil)
	}
	return size, err
}

// dropUpload ends a session and discards its staged bytes.
func (s *Store) dropUpload(ctx context.Context, id string, st Staged) error {
	if st != nil {
		st.Abort(ctx)
	}
	return s.db.update(ctx, func(tx *tx) error {
		_, err := tx.Exec(`DELETE FROM uploads WHERE id = ?`, id)
		return err
	})
}

// CancelUpload ends a session and discards what it staged.
func (s *Store) CancelUpload(ctx context.Context, repo, id string) error {
	ss, err := s.openSession(ctx, repo, id)
	if errors.Is(err, ErrStagedLost) {
		return s.dropUpload(context.WithoutCancel(ctx), id, nil)
	}
	if err != nil {
		return err
	}
	defer ss.release(true)
	return s.dropUpload(context.WithoutCancel(ctx), id, ss.staged)
}

// PutBlob stores a whole blob in one call (a monolithic upload), verifying
// that r hashes to d. size < 0 means unknown.
func (s *Store) PutBlob(ctx context.Context, repo string, d digest.Digest, size int64, r io.Reader) (int64, error) {
	u, err := s.StartUpload(ctx, repo)
	if err != nil {
		return 0, err
	}
	n, err := s.FinishUpload(ctx, repo, u.ID, d, 0, size, r)
	if err != nil {
		s.CancelUpload(context.WithoutCancel(ctx), repo, u.ID)
	}
	return n, err
}
