package store

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
	"strings"

	"github.com/opencontainers/go-digest"
)

// FS is the filesystem Backend: blobs at blobs/<alg>/<xx>/<hex> below its
// root, uploads staged in uploads/. Writes go to a temporary file that is
// fsynced, renamed into place, and whose directory is fsynced, so a crash
// leaves either the whole blob or nothing.
type FS struct {
	root string
}

// NewFS opens (creating if needed) a filesystem backend rooted at dir. The
// 256 fan-out directories are made up front, so that committing a blob only
// ever has to make a rename durable, never a new directory.
func NewFS(dir string) (*FS, error) {
	if err := os.MkdirAll(filepath.Join(dir, "uploads"), 0o755); err != nil {
		return nil, fmt.Errorf("filesystem backend: %w", err)
	}
	shards := filepath.Join(dir, "blobs", string(digest.SHA256))
	if _, err := os.Stat(filepath.Join(shards, "ff")); err != nil {
		for i := 0; i < 256; i++ {
			if err := os.MkdirAll(filepath.Join(shards, fmt.Sprintf("%02x", i)), 0o755); err != nil {
				return nil, fmt.Errorf("filesystem backend: %w", err)
			}
		}
		for _, d := range []string{shards, filepath.Dir(shards), dir} {
			if err := syncDir(d); err != nil {
				return nil, fmt.Errorf("filesystem backend: %w", err)
			}
		}
	}
	return &FS{root: dir}, nil
}

func (f *FS) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	enc := d.Encoded()
	return filepath.Join(f.root, "blobs", string(d.Algorithm()), enc[:2], enc), nil
}

// Open implements Backend. A whole-blob read returns the *os.File itself so
// that net/http can send it with sendfile.
func (f *FS) Open(_ context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	p, err := f.blobPath(d)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return FileRange(file, offset, length)
}

// FileRange serves length bytes of f from offset (length < 0: to the end),
// closing f when the reader is closed. A whole read returns f itself and a
// range keeps io.LimitedReader{*os.File} visible, so net/http can send
// either with sendfile. Backends that keep files (filesystem, the IPFS
// cache) share it.
func FileRange(f *os.File, offset, length int64) (io.ReadCloser, error) {
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	if length < 0 {
		return f, nil
	}
	return &limitedFile{LimitedReader: io.LimitedReader{R: f, N: length}, f: f}, nil
}

// limitedFile keeps io.LimitedReader{*os.File} visible to io.Copy so the
// kernel's sendfile still applies to range reads.
type limitedFile struct {
	io.LimitedReader
	f *os.File
}

func (l *limitedFile) Close() error { return l.f.Close() }

// WriteTo lets io.Copy hand the LimitedReader to the destination's ReadFrom.
func (l *limitedFile) WriteTo(w io.Writer) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(&l.LimitedReader)
	}
	return io.Copy(w, struct{ io.Reader }{&l.LimitedReader})
}

// Stat implements Backend.
func (f *FS) Stat(_ context.Context, d digest.Digest) (int64, error) {
	p, err := f.blobPath(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Delete implements Backend.
func (f *FS) Delete(_ context.Context, d digest.Digest) error {
	p, err := f.blobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Stage implements Backend.
func (f *FS) Stage(_ context.Context, handle string, offset int64) (Staged, error) {
	handle, file, err := StageFile(filepath.Join(f.root, "uploads"), handle, offset)
	if err != nil {
		return nil, fmt.Errorf("filesystem backend: %w", err)
	}
	return &fsStaged{fs: f, handle: handle, file: file}, nil
}

// StageFile opens the staging file of an upload in dir, positioned at
// offset: a new one under a fresh handle when handle is "", else the file of
// handle with anything past offset discarded. A resumed upload whose file is
// gone, or shorter than offset, lost bytes it had recorded: ErrStagedLost
// (unless it had none recorded: then an empty file is exactly what it had).
// Backends that stage on local disk (filesystem, IPFS) share it.
func StageFile(dir, handle string, offset int64) (string, *os.File, error) {
	resumed := handle != ""
	if !resumed {
		if offset != 0 {
			return "", nil, fmt.Errorf("new upload at offset %d", offset)
		}
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", nil, err
		}
		handle = hex.EncodeToString(b[:])
	}
	if len(handle) != 32 || strings.Trim(handle, "0123456789abcdef") != "" {
		return "", nil, fmt.Errorf("bad upload handle %q", handle)
	}
	flags := os.O_RDWR
	if !resumed || offset == 0 {
		flags |= os.O_CREATE
	}
	file, err := os.OpenFile(filepath.Join(dir, handle), flags, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, ErrStagedLost
	}
	if err != nil {
		return "", nil, err
	}
	fi, err := file.Stat()
	if err == nil && fi.Size() < offset {
		err = fmt.Errorf("%w: staged upload has %d bytes, %d were recorded", ErrStagedLost, fi.Size(), offset)
	}
	if err == nil {
		err = file.Truncate(offset)
	}
	if err == nil {
		_, err = file.Seek(offset, io.SeekStart)
	}
	if err != nil {
		file.Close()
		return "", nil, err
	}
	return handle, file, nil
}

type fsStaged struct {
	fs     *FS
	handle string
	file   *os.File
}

func (s *fsStaged) Write(p []byte) (int, error) { return s.file.Write(p) }

// ReadFrom lets io.Copy pull straight into the file with a large buffer.
func (s *fsStaged) ReadFrom(r io.Reader) (int64, error) { return s.file.ReadFrom(r) }

func (s *fsStaged) Handle() string { return s.handle }

func (s *fsStaged) Close() error { return s.file.Close() }

func (s *fsStaged) Abort(context.Context) error {
	s.file.Close()
	if err := os.Remove(s.file.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *fsStaged) Commit(_ context.Context, d digest.Digest, verify bool) error {
	if verify {
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		v := d.Verifier()
		if _, err := io.Copy(v, s.file); err != nil {
			return err
		}
		if !v.Verified() {
			return ErrDigestMismatch
		}
	}
	dst, err := s.fs.blobPath(d)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil { // already stored: deduplicated
		return s.Abort(context.Background())
	}
	if err := s.file.Sync(); err != nil {
		return err
	}
	if err := s.file.Close(); err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	if err := os.Rename(s.file.Name(), dst); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
