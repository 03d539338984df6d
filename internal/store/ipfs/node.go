package ipfs

import (
	"context"
	"errors"
	"hash"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	cmds "github.com/ipfs/go-ipfs-cmds"
	"github.com/ipfs/kubo/client/rpc"
	"github.com/opencontainers/go-digest"
)

// permanent marks an error that retrying cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retryWrite: adds, pins and unpins are retried on anything but a request
// the node refused as malformed, or a permanent error. Whatever the node
// answers while it restarts, an add of good bytes is worth repeating.
func retryWrite(err error) bool {
	var p permanent
	var ce *cmds.Error
	switch {
	case errors.As(err, &p), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &ce):
		return ce.Code != cmds.ErrClient
	}
	return true
}

// retryRead: reads are retried only when the node could not be reached or
// the connection broke, never on an answer (not found is an answer).
func retryRead(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// retry runs op until it succeeds, fails in a way retryable rejects, or
// window has passed, backing off from 100 ms to 5 s between attempts.
func (b *Backend) retry(ctx context.Context, window time.Duration, retryable func(error) bool, op func() error) error {
	deadline := time.Now().Add(window)
	delay := 100 * time.Millisecond
	for {
		err := op()
		if err == nil || !retryable(err) || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return err
		}
		b.retries.Add(1)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// isNotFound: the node answered that it does not have the content.
func isNotFound(err error) bool {
	var ce *cmds.Error
	return errors.As(err, &ce) && (strings.Contains(ce.Message, "not found") || strings.Contains(ce.Message, "no link named"))
}

// maxResumes bounds how often one read reconnects after a broken stream.
const maxResumes = 8

// catReader streams bytes of a CID from the node (`cat` with offset and
// length), reconnecting where it stopped when the connection breaks.
type catReader struct {
	b       *Backend
	ctx     context.Context
	path    string
	off     int64
	left    int64 // < 0: to the end
	resp    *rpc.Response
	resumes int
}

func (r *catReader) connect() error {
	return r.b.retry(r.ctx, r.b.readRetryFor, retryRead, func() error {
		req := r.b.api.Request("cat", r.path).Option("offset", r.off)
		if r.left >= 0 {
			req = req.Option("length", r.left)
		}
		resp, err := req.Send(r.ctx)
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return resp.Error
		}
		r.resp = resp
		return nil
	})
}

func (r *catReader) Read(p []byte) (int, error) {
	for {
		if r.left == 0 {
			return 0, io.EOF
		}
		if r.resp == nil {
			if err := r.connect(); err != nil {
				return 0, err
			}
		}
		if r.left > 0 && int64(len(p)) > r.left {
			p = p[:r.left]
		}
		n, err := r.resp.Output.Read(p)
		r.off += int64(n)
		if r.left > 0 {
			r.left -= int64(n)
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		// The stream broke (the node went away): pick it up where it
		// stopped.
		r.resp.Cancel()
		r.resp = nil
		if !retryRead(err) || r.resumes >= maxResumes || r.ctx.Err() != nil {
			return n, err
		}
		r.resumes++
		r.b.resumes.Add(1)
		if n > 0 {
			return n, nil
		}
	}
}

// Close drops the connection without reading the rest.
func (r *catReader) Close() error {
	if r.resp != nil {
		r.resp.Cancel()
		r.resp = nil
	}
	return nil
}

// fill wraps a whole-blob read from the node so that the bytes also land in
// the cache: kept only if the read reached the end and they hash to d. It
// returns nil when the blob is being filled by another read already, or the
// cache cannot take a file now.
func (b *Backend) fill(d digest.Digest, r *catReader) io.ReadCloser {
	if !b.cache.startFill(d) {
		return nil
	}
	f, err := os.CreateTemp(b.cache.tmp, "fill-*")
	if err != nil {
		b.cache.endFill(d)
		return nil
	}
	h := d.Algorithm().Hash()
	return &fillReader{b: b, d: d, r: r, f: f, h: h}
}

type fillReader struct {
	b      *Backend
	d      digest.Digest
	r      *catReader
	f      *os.File
	h      hash.Hash
	n      int64
	failed bool
	eof    bool
}

func (fr *fillReader) Read(p []byte) (int, error) {
	n, err := fr.r.Read(p)
	if n > 0 && !fr.failed {
		fr.n += int64(n)
		if !fr.b.cache.fits(fr.n) {
			fr.failed = true // larger than the whole cache
		} else if _, werr := fr.f.Write(p[:n]); werr != nil {
			fr.failed = true
		} else {
			fr.h.Write(p[:n])
		}
	}
	if err == io.EOF {
		fr.eof = true
	}
	return n, err
}

// Close keeps the copy if it is the whole blob.
func (fr *fillReader) Close() error {
	err := fr.r.Close()
	defer fr.b.cache.endFill(fr.d)
	keep := fr.eof && !fr.failed && digest.NewDigest(fr.d.Algorithm(), fr.h) == fr.d
	if keep && fr.f.Sync() == nil && fr.f.Close() == nil {
		fr.b.cache.insert(fr.d, fr.f.Name(), fr.n) // best effort: it is a cache
		return err
	}
	fr.f.Close()
	os.Remove(fr.f.Name())
	return err
}
