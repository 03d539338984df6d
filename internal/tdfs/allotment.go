package tdfs

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/dfsreg/dfsreg/internal/partition"
)

// EntryTime is the modification time of every allotment tar entry.
var EntryTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one source file of an allotment and its name in the tar.
type File struct {
	Src, Dst string
}

// Files returns the (src, dst) pairs of an allotment, in order.
func (a AllotmentSpec) Files() []File {
	out := make([]File, len(a.Src))
	for i := range a.Src {
		out[i] = File{Src: a.Src[i], Dst: a.Dst[i]}
	}
	return out
}

// Blob is a built allotment: its cell, digests and the spooled blob file.
type Blob struct {
	Row, Col int
	// Digest is the sha256 of the compressed blob, DiffID of the tar.
	Digest, DiffID digest.Digest
	Size           int64
	// Path is the blob's file in the spool directory.
	Path string
}

// Allotment returns the field cell of b.
func (b Blob) Allotment() partition.Allotment {
	return partition.Allotment{Row: b.Row, Col: b.Col, Digest: b.Digest, DiffID: b.DiffID}
}

// Options tune Build.
type Options struct {
	// Spool is the directory the blobs are written to, as <hex> files.
	Spool string
	// Jobs bounds the allotments compressed at once (default: the number
	// of CPUs).
	Jobs int
	// KeepOwner takes uid, gid, user and group names from the source
	// files, as tdfs does; by default entries belong to root (0:0).
	KeepOwner bool
	// Done, if set, is called after each allotment is built (from any
	// goroutine, one call at a time).
	Done func(b Blob)
}

// Build builds every allotment of s into opts.Spool, in parallel, and
// returns them in the order of s. An allotment whose blob is already in the
// spool is rebuilt all the same (its sources may have changed).
func Build(ctx context.Context, s *Spec, opts Options) ([]Blob, error) {
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	out := make([]Blob, len(s.Allotments))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	done := make(chan struct{}, 1)
	done <- struct{}{}
	for i, a := range s.Allotments {
		g.Go(func() error {
			b, err := buildOne(ctx, a, opts)
			if err != nil {
				return fmt.Errorf("allotment (%d,%d): %w", a.Row, a.Col, err)
			}
			out[i] = b
			if opts.Done != nil {
				<-done
				opts.Done(b)
				done <- struct{}{}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func buildOne(ctx context.Context, a AllotmentSpec, opts Options) (Blob, error) {
	tmp, err := os.CreateTemp(opts.Spool, ".allotment-*")
	if err != nil {
		return Blob{}, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	d, diffID, n, err := Write(ctx, tmp, a.Files(), opts.KeepOwner)
	if err != nil {
		return Blob{}, err
	}
	if err := tmp.Close(); err != nil {
		return Blob{}, err
	}
	path := filepath.Join(opts.Spool, d.Encoded())
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Blob{}, err
	}
	return Blob{Row: a.Row, Col: a.Col, Digest: d, DiffID: diffID, Size: n, Path: path}, nil
}

// Write writes the allotment blob of files to w: a tar of one entry per
// file, gzip-compressed. It returns the blob's digest and size and the
// tar's digest (the diff ID).
func Write(ctx context.Context, w io.Writer, files []File, keepOwner bool) (d, diffID digest.Digest, size int64, err error) {
	blobHash, tarHash := sha256.New(), sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, blobHash)}
	zw := gzip.NewWriter(cw)
	tw := tar.NewWriter(io.MultiWriter(zw, tarHash))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return "", "", 0, err
		}
		if err := addFile(tw, f, keepOwner); err != nil {
			return "", "", 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return "", "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", "", 0, err
	}
	if cw.err != nil {
		return "", "", 0, cw.err
	}
	return sum(blobHash.Sum(nil)), sum(tarHash.Sum(nil)), cw.n, nil
}

func sum(b []byte) digest.Digest { return digest.Digest("sha256:" + hex.EncodeToString(b)) }

func addFile(tw *tar.Writer, f File, keepOwner bool) error {
	src, err := os.Open(f.Src)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", f.Src)
	}
	var h *tar.Header
	if keepOwner {
		if h, err = tar.FileInfoHeader(fi, ""); err != nil {
			return err
		}
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	} else {
		h = &tar.Header{Typeflag: tar.TypeReg, Mode: tarMode(fi.Mode()), Size: fi.Size(), Uname: "root", Gname: "root"}
	}
	h.Name = f.Dst
	h.ModTime = EntryTime
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", f.Dst, err)
	}
	n, err := io.Copy(tw, src)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Src, err)
	}
	if n != fi.Size() {
		return fmt.Errorf("%s changed size while being read", f.Src)
	}
	return nil
}

// tarMode is the tar header mode of a file: permission bits plus setuid,
// setgid and sticky, as archive/tar's FileInfoHeader sets them.
func tarMode(m os.FileMode) int64 {
	mode := int64(m.Perm())
	if m&os.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
