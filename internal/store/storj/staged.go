package storj

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	"storj.io/uplink"

	"github.com/dfsreg/dfsreg/internal/store"
)

// A staged upload's handle is
//
//	sj1:<id>:<parts>:<bytes>:<upload id>
//
// id (32 hex digits) names the staging key uploads/<id> and the spool
// directory <spool>/<id>; parts is how many parts were uploaded, holding
// bytes bytes; upload id is the Storj multipart upload (empty until the
// first part is uploaded: an upload smaller than a part is sent to Storj
// only when it is committed, in one piece).
//
// The spool directory holds:
//
//	part       the bytes after the uploaded parts (the part being filled)
//	sent.<n>   the first part a session uploaded (part n), kept until a
//	           handle that counts it is resumed: if the process dies after
//	           the part was uploaded but before its handle was recorded, the
//	           recorded offset lies inside that part, and its bytes are
//	           needed again
//	upload-id  the multipart upload, written as soon as it begins (so that
//	           a handle recorded before it still finds it)
//	committed  the size and digest of the staging object a Commit committed
//	           the multipart upload to: if the Commit failed after that (in
//	           the verification or the move), the session is "sealed", and
//	           a later Commit of the same blob takes the staging object
const handlePrefix = "sj1"

type handle struct {
	id       string
	parts    int
	inParts  int64
	uploadID string
}

func (h handle) String() string {
	return fmt.Sprintf("%s:%s:%d:%d:%s", handlePrefix, h.id, h.parts, h.inParts, h.uploadID)
}

func parseHandle(s string) (handle, error) {
	f := strings.Split(s, ":")
	bad := func() (handle, error) { return handle{}, fmt.Errorf("storj backend: bad upload handle %q", s) }
	if len(f) != 5 || f[0] != handlePrefix || len(f[1]) != 32 || strings.Trim(f[1], "0123456789abcdef") != "" {
		return bad()
	}
	parts, err1 := strconv.Atoi(f[2])
	inParts, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || parts < 0 || inParts < 0 || (parts == 0) != (inParts == 0) ||
		(parts > 0 && f[4] == "") || strings.Trim(f[4], "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz") != "" {
		return bad()
	}
	return handle{id: f[1], parts: parts, inParts: inParts, uploadID: f[4]}, nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// staged is a store.Staged on Storj.
type staged struct {
	b   *Backend
	ctx context.Context // the request's: part uploads during Write use it
	handle
	dir      string
	cur      *os.File // dir/part
	curN     int64    // bytes in cur
	retained bool     // this session kept a sent.<n> file
	// abortID is a multipart upload to abort before another begins: the
	// upload was resumed at 0, before bytes it had sent.
	abortID string
	// sealed: the multipart upload was committed to the staging object by
	// a Commit that failed afterwards (see the committed file). Writes only
	// count the bytes sent again (sealedN is the upload's length); Commit
	// takes the staging object if they make the same blob.
	sealed  bool
	sealedN int64
	err     error // a failed Write: the session must be resumed anew
	done    bool  // committed or aborted
}

func (s *staged) path(name string) string { return filepath.Join(s.dir, name) }

// Stage implements store.Backend.
func (b *Backend) Stage(ctx context.Context, h string, offset int64) (store.Staged, error) {
	if h == "" {
		if offset != 0 {
			return nil, fmt.Errorf("storj backend: new upload at offset %d", offset)
		}
		var r [16]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, err
		}
		s := &staged{b: b, ctx: ctx, handle: handle{id: hex.EncodeToString(r[:])}}
		s.dir = filepath.Join(b.spool, s.id)
		if err := os.Mkdir(s.dir, 0o700); err != nil {
			return nil, fmt.Errorf("storj backend: spool: %w", err)
		}
		if err := s.openPart(0, 0); err != nil {
			os.RemoveAll(s.dir)
			return nil, err
		}
		return s, nil
	}
	hd, err := parseHandle(h)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("storj backend: resuming upload %s at offset %d", hd.id, offset)
	}
	s := &staged{b: b, ctx: ctx, handle: hd, dir: filepath.Join(b.spool, hd.id)}
	_, err = os.Stat(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && offset == 0:
		err = os.Mkdir(s.dir, 0o700)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("storj backend: upload %s: %d bytes were recorded but its spool %s is gone (aborted, or the spool directory was lost)", hd.id, offset, s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("storj backend: spool: %w", err)
	}
	if s.uploadID == "" {
		// A multipart upload begun after the handle was recorded.
		if id, err := os.ReadFile(s.path("upload-id")); err == nil {
			s.uploadID = strings.TrimSpace(string(id))
		}
	}
	if _, _, ok := s.marker(); ok {
		// A Commit got as far as committing the multipart upload to the
		// staging object, and failed after.
		s.sealed, s.sealedN, s.uploadID = true, offset, ""
		return s, nil
	}
	if offset < s.inParts {
		// Back before bytes that went to Storj: only starting over is
		// possible (the store does this to discard a session).
		if offset != 0 {
			return nil, fmt.Errorf("storj backend: upload %s has %d bytes in Storj, it cannot resume at %d", hd.id, s.inParts, offset)
		}
		s.abortID, s.uploadID, s.parts, s.inParts = s.uploadID, "", 0, 0
		if err := os.Remove(s.path("upload-id")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	// Sent parts that the handle counts are not needed any more; a sent
	// part that it does not count is where a dead session left off.
	names, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	resume := ""
	for _, e := range names {
		n, ok := strings.CutPrefix(e.Name(), "sent.")
		if !ok {
			continue
		}
		if k, err := strconv.Atoi(n); err == nil && k == s.parts+1 {
			resume = e.Name()
			continue
		}
		if err := os.Remove(s.path(e.Name())); err != nil {
			return nil, err
		}
	}
	if resume != "" {
		if err := os.Rename(s.path(resume), s.path("part")); err != nil {
			return nil, err
		}
	}
	if err := s.openPart(offset-s.inParts, offset); err != nil {
		return nil, err
	}
	return s, nil
}

// openPart opens dir/part, keeping its first keep bytes (the whole upload
// is at offset).
func (s *staged) openPart(keep, offset int64) error {
	f, err := os.OpenFile(s.path("part"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("storj backend: spool: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < keep {
		err = fmt.Errorf("storj backend: upload %s: the spool holds %d bytes after the %d uploaded, %d were recorded", s.id, fi.Size(), s.inParts, offset)
	}
	if err == nil && fi.Size() != keep {
		err = f.Truncate(keep)
	}
	if err != nil {
		f.Close()
		return err
	}
	s.cur, s.curN = f, keep
	return nil
}

func (s *staged) Handle() string { return s.handle.String() }

// Write implements io.Writer: bytes go to the spool, and each time it holds
// a full part the part is uploaded. When an upload fails (after retries),
// Write reports none of p written unless an earlier part of p was uploaded,
// and the session must be resumed from its recorded offset.
func (s *staged) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.done {
		return 0, errors.New("storj backend: write to a finished upload")
	}
	if s.sealed {
		s.sealedN += int64(len(p))
		return len(p), nil
	}
	start, written, uploaded := s.curN, 0, false
	fail := func(err error) (int, error) {
		s.err = err
		if uploaded {
			return written, err
		}
		if s.curN != start && s.cur.Truncate(start) == nil {
			s.curN = start
		}
		return 0, err
	}
	for len(p) > 0 {
		if s.curN >= s.b.partSize {
			if err := s.uploadPart(s.ctx); err != nil {
				return fail(err)
			}
			start, uploaded = 0, true
		}
		n := int(min(int64(len(p)), s.b.partSize-s.curN))
		if _, err := s.cur.WriteAt(p[:n], s.curN); err != nil {
			return fail(fmt.Errorf("storj backend: spool: %w", err))
		}
		s.curN += int64(n)
		written += n
		p = p[n:]
	}
	return written, nil
}

// begin starts the multipart upload if there is none yet.
func (s *staged) begin(ctx context.Context) error {
	if s.uploadID != "" {
		return nil
	}
	s.cleanup(ctx)
	key := stagingKey(s.id)
	err := s.b.retry(ctx, func(ctx context.Context) error {
		info, err := s.b.project.BeginUpload(ctx, s.b.bucket, key, nil)
		if err == nil {
			s.uploadID = info.UploadID
		}
		return err
	})
	if err != nil {
		return s.b.fail("beginning multipart upload", key, err)
	}
	if err := os.WriteFile(s.path("upload-id"), []byte(s.uploadID), 0o600); err != nil {
		return fmt.Errorf("storj backend: spool: %w", err)
	}
	return nil
}

// cleanup aborts the multipart upload a resume at 0 left behind.
func (s *staged) cleanup(ctx context.Context) error {
	if s.abortID == "" {
		return nil
	}
	err := s.b.abortUpload(ctx, stagingKey(s.id), s.abortID)
	s.abortID = ""
	return err
}

func (b *Backend) abortUpload(ctx context.Context, key, uploadID string) error {
	err := b.retry(ctx, func(ctx context.Context) error {
		return b.project.AbortUpload(ctx, b.bucket, key, uploadID)
	})
	if err != nil && !errors.Is(err, uplink.ErrUploadIDInvalid) && !errors.Is(err, uplink.ErrObjectNotFound) {
		return b.fail("aborting multipart upload", key, err)
	}
	return nil
}

// uploadPart uploads the spool as the next part, streaming it from the
// file; a failed attempt is retried from the start of the part, under the
// same part number (Storj replaces a part uploaded again).
func (s *staged) uploadPart(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	key, n := stagingKey(s.id), s.parts+1
	err := s.b.retry(ctx, func(ctx context.Context) error {
		up, err := s.b.project.UploadPart(ctx, s.b.bucket, key, s.uploadID, uint32(n))
		if err != nil {
			return err
		}
		return s.sendSpool(up)
	})
	if err != nil {
		return s.b.fail(fmt.Sprintf("uploading part %d of", n), key, err)
	}
	s.parts++
	s.inParts += s.curN
	if !s.retained {
		// Keep this part's bytes until its handle is known to be recorded.
		s.cur.Close()
		s.cur = nil
		if err := os.Rename(s.path("part"), s.path(fmt.Sprintf("sent.%d", n))); err != nil {
			return fmt.Errorf("storj backend: spool: %w", err)
		}
		s.retained = true
		return s.openPart(0, s.inParts)
	}
	if err := s.cur.Truncate(0); err != nil {
		return fmt.Errorf("storj backend: spool: %w", err)
	}
	s.curN = 0
	return nil
}

// hashSpool tells whether the spooled bytes hash to d.
func (s *staged) hashSpool(d digest.Digest) (bool, error) {
	v := d.Verifier()
	if _, err := io.Copy(v, io.NewSectionReader(s.cur, 0, s.curN)); err != nil {
		return false, fmt.Errorf("storj backend: spool: %w", err)
	}
	return v.Verified(), nil
}

// Commit implements store.Staged.
//
// An upload that never filled a part is verified locally (when asked) and
// uploaded in one piece straight to its blob key: a Storj object becomes
// visible only when it is complete. A multipart upload is committed to its
// staging key, its parts checked, re-read and hashed when asked, and moved
// to its blob key. Either way nothing is sent when the blob is there
// already (and need not be verified).
func (s *staged) Commit(ctx context.Context, d digest.Digest, verify bool) error {
	if s.err != nil {
		return s.err
	}
	if s.done {
		return errors.New("storj backend: commit of a finished upload")
	}
	final, err := blobKey(d)
	if err != nil {
		return err
	}
	switch {
	case s.sealed:
		// An earlier Commit committed the multipart upload and failed
		// after; the bytes since sent again are those of the staging
		// object if they hash the same (the store hashed them).
		size, md, _ := s.marker()
		if md != d || s.sealedN != size {
			s.b.delete(ctx, stagingKey(s.id))
			os.Remove(s.path("committed"))
			s.sealed = false
			return store.ErrDigestMismatch
		}
	case s.parts == 0:
		if verify {
			ok, err := s.hashSpool(d)
			if err != nil {
				return err
			}
			if !ok {
				return store.ErrDigestMismatch
			}
		}
		exists, err := s.b.exists(ctx, final)
		if err != nil {
			return err
		}
		if !exists {
			if err := s.uploadWhole(ctx, final); err != nil {
				return err
			}
		}
		return s.finish(ctx)
	default:
		if !verify {
			exists, err := s.b.exists(ctx, final)
			if err != nil {
				return err
			}
			if exists {
				return s.finish(ctx) // aborts the multipart upload
			}
		}
		if err := s.commitMultipart(ctx, d); err != nil {
			return err
		}
	}
	if err := s.publish(ctx, d, final, verify); err != nil {
		return err
	}
	return s.finish(ctx)
}

// marker reads the committed marker: the size and digest of the staging
// object an earlier Commit committed the multipart upload to.
func (s *staged) marker() (int64, digest.Digest, bool) {
	b, err := os.ReadFile(s.path("committed"))
	if err != nil {
		return 0, "", false
	}
	size, d, ok := strings.Cut(string(b), " ")
	n, err := strconv.ParseInt(size, 10, 64)
	if !ok || err != nil {
		return 0, "", false
	}
	return n, digest.Digest(d), true
}

// upload is what a part upload and an object upload share.
type upload interface {
	io.Writer
	Abort() error
	Commit() error
}

// sendSpool streams the spool into up and commits it, or aborts it.
func (s *staged) sendSpool(up upload) error {
	buf := copyBufs.Get().(*[]byte)
	_, err := io.CopyBuffer(up, io.NewSectionReader(s.cur, 0, s.curN), *buf)
	copyBufs.Put(buf)
	if err != nil {
		up.Abort()
		return err
	}
	return up.Commit()
}

// uploadWhole uploads the spool as the object key.
func (s *staged) uploadWhole(ctx context.Context, key string) error {
	err := s.b.retry(ctx, func(ctx context.Context) error {
		up, err := s.b.project.UploadObject(ctx, s.b.bucket, key, nil)
		if err != nil {
			return err
		}
		return s.sendSpool(up)
	})
	if err != nil {
		return s.b.fail("uploading", key, err)
	}
	return nil
}

// commitMultipart uploads the last part and commits the multipart upload
// to the staging key, then leaves the committed marker for d.
func (s *staged) commitMultipart(ctx context.Context, d digest.Digest) error {
	key, size := stagingKey(s.id), s.inParts+s.curN
	if s.curN > 0 {
		if err := s.uploadPart(ctx); err != nil {
			return err
		}
	}
	ok, err := s.partsMatch(ctx, size)
	if err != nil {
		return err
	}
	if !ok {
		// Parts this session does not count (left by a process that died
		// after uploading them): Storj would assemble other bytes than
		// were written, and parts cannot be removed.
		err := s.b.abortUpload(ctx, key, s.uploadID)
		s.uploadID = ""
		return errors.Join(store.ErrDigestMismatch, err)
	}
	var got int64 = -1
	err = s.b.retry(ctx, func(ctx context.Context) error {
		o, err := s.b.project.CommitUpload(ctx, s.b.bucket, key, s.uploadID, nil)
		if err == nil {
			got = o.System.ContentLength
		}
		return err
	})
	if errors.Is(err, uplink.ErrUploadIDInvalid) || errors.Is(err, uplink.ErrObjectNotFound) {
		// A commit whose answer was lost, retried? The size check below
		// tells.
		if n, serr := s.b.stat(ctx, key); serr == nil {
			got, err = n, nil
		}
	}
	if err != nil {
		return s.b.fail("committing multipart upload", key, err)
	}
	s.uploadID = ""
	if got != size {
		s.b.delete(ctx, key)
		return store.ErrDigestMismatch
	}
	if err := os.WriteFile(s.path("committed"), []byte(strconv.FormatInt(size, 10)+" "+d.String()), 0o600); err != nil {
		s.b.delete(ctx, key)
		return fmt.Errorf("storj backend: spool: %w", err)
	}
	s.sealed, s.sealedN = true, size
	return nil
}

// publish moves the staging object to its blob key, after checking its
// bytes when verify is set; if the blob is there already, the staging
// object is deleted instead.
func (s *staged) publish(ctx context.Context, d digest.Digest, final string, verify bool) error {
	key := stagingKey(s.id)
	if verify {
		ok, err := s.b.verify(ctx, key, d)
		if err != nil {
			return err
		}
		if !ok {
			s.b.delete(ctx, key)
			os.Remove(s.path("committed"))
			s.sealed = false
			return store.ErrDigestMismatch
		}
	}
	exists, err := s.b.exists(ctx, final)
	if err != nil {
		return err
	}
	if exists {
		return s.b.delete(ctx, key)
	}
	err = s.b.retry(ctx, func(ctx context.Context) error {
		return s.b.project.MoveObject(ctx, s.b.bucket, key, s.b.bucket, final, nil)
	})
	if err != nil {
		// Lost answer to a move that happened, or another upload of the
		// same blob got there first.
		if ok, _ := s.b.exists(ctx, final); ok {
			return s.b.delete(ctx, key)
		}
		return s.b.fail("moving into place", key, err)
	}
	return nil
}

// partsMatch tells whether the multipart upload holds exactly the parts
// this session uploaded, 1 to s.parts, size bytes in all.
func (s *staged) partsMatch(ctx context.Context, size int64) (bool, error) {
	key := stagingKey(s.id)
	var n int
	var total int64
	var stray bool
	err := s.b.retry(ctx, func(ctx context.Context) error {
		n, total, stray = 0, 0, false
		it := s.b.project.ListUploadParts(ctx, s.b.bucket, key, s.uploadID, nil)
		for it.Next() {
			p := it.Item()
			if p.PartNumber < 1 || int(p.PartNumber) > s.parts {
				stray = true
			}
			n++
			total += p.Size
		}
		return it.Err()
	})
	if err != nil {
		return false, s.b.fail("listing the parts of", key, err)
	}
	return !stray && n == s.parts && total == size, nil
}

// verify downloads the object at key and tells whether it hashes to d.
func (b *Backend) verify(ctx context.Context, key string, d digest.Digest) (bool, error) {
	rc, err := b.open(ctx, key, 0, -1)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	v := d.Verifier()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	if _, err := io.CopyBuffer(v, rc, *buf); err != nil {
		return false, err
	}
	return v.Verified(), nil
}

// finish ends a committed upload: a multipart upload not needed after all
// is aborted, and the spool goes.
func (s *staged) finish(ctx context.Context) error {
	s.done = true
	s.cleanup(ctx)
	if s.uploadID != "" {
		s.b.abortUpload(ctx, stagingKey(s.id), s.uploadID)
		s.uploadID = ""
	}
	s.closeFile()
	return os.RemoveAll(s.dir)
}

func (s *staged) closeFile() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.cur = nil
	return err
}

// Close implements store.Staged.
func (s *staged) Close() error { return s.closeFile() }

// Abort implements store.Staged: the multipart upload is aborted (or the
// staging object deleted, if it was committed) and the spool removed.
func (s *staged) Abort(ctx context.Context) error {
	if s.done {
		s.closeFile()
		return os.RemoveAll(s.dir)
	}
	s.done = true
	s.closeFile()
	errs := []error{s.cleanup(ctx)}
	if _, _, ok := s.marker(); ok {
		errs = append(errs, s.b.delete(ctx, stagingKey(s.id)))
	} else if s.uploadID != "" {
		errs = append(errs, s.b.abortUpload(ctx, stagingKey(s.id), s.uploadID))
	}
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}
