package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dfsreg/dfsreg/internal/remote"
)

// Options tune Push.
type Options struct {
	// Jobs bounds the blobs uploaded at once (default 4).
	Jobs int
	// ChunkSize: blobs larger than this are sent in PATCH chunks of this
	// size, and an interrupted chunk resumes where the registry stopped
	// (default 64 MiB; negative: never chunk).
	ChunkSize int64
	// Attempts per operation on transient errors (default 5).
	Attempts int
	// Backoff is the first retry delay, doubled each time up to 5 s, with
	// jitter (default 250 ms).
	Backoff time.Duration
	// Observer receives progress events, one call at a time.
	Observer func(Event)
	// ByteProgress asks for BlobProgress events as bytes go out. Counting
	// them costs a copy through user space; without it, files are handed
	// to the transport as they are (sendfile).
	ByteProgress bool
}

const (
	defaultJobs      = 4
	defaultChunkSize = 64 << 20
	defaultAttempts  = 5
	defaultBackoff   = 250 * time.Millisecond
	maxBackoff       = 5 * time.Second
	progressStep     = 1 << 20
)

// Target is where an image goes: a repository and a tag ("" to push the
// root by digest only).
type Target struct {
	Repo *remote.Repository
	Tag  string
	// Reference is the target as shown in the Result.
	Reference string
}

type pusher struct {
	opts    Options
	repo    *remote.Repository
	mu      sync.Mutex // serializes Observer calls
	sent    atomic.Int64
	retries atomic.Int64
}

// Push sends img to t: blobs, then children by digest, then the root by
// tag. It stops at the first error that retrying does not fix, or when ctx
// is cancelled; the tag is written only after everything else arrived.
func Push(ctx context.Context, img *Image, t Target, opts Options) (*Result, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = defaultJobs
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = defaultChunkSize
	}
	if opts.Attempts <= 0 {
		opts.Attempts = defaultAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = defaultBackoff
	}
	start := time.Now()
	p := &pusher{opts: opts, repo: t.Repo}
	res := &Result{Reference: t.Reference, Digest: img.Root.Desc.Digest.String(), MediaType: img.Root.Desc.MediaType,
		Size: img.Root.Desc.Size, Blobs: len(img.Blobs), BlobBytes: img.Size()}

	blobs := dedupe(img.Blobs)
	res.Blobs, res.BlobBytes = len(blobs), 0
	for _, b := range blobs {
		res.BlobBytes += b.Desc.Size
	}
	p.emit(Event{Kind: PushStart, Count: res.Blobs, Bytes: res.BlobBytes})

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Jobs)
	for _, b := range blobs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			st, err := p.blob(gctx, b)
			if err != nil {
				return fmt.Errorf("%s %s: %w", b.Kind, b.Desc.Digest, err)
			}
			mu.Lock()
			switch st {
			case Uploaded:
				res.Uploaded++
			case Exists:
				res.Existing++
			case Mounted:
				res.Mounted++
			}
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		for _, m := range img.Children {
			if err = p.manifest(ctx, m, m.Desc.Digest.String(), "manifest"); err != nil {
				break
			}
			res.Manifests++
		}
	}
	if err == nil {
		ref := t.Tag
		if ref == "" {
			ref = img.Root.Desc.Digest.String()
		}
		if err = p.manifest(ctx, img.Root, ref, "index"); err == nil {
			res.Manifests++
		}
	}
	res.BytesSent = p.sent.Load()
	res.Retries = int(p.retries.Load())
	res.Duration = time.Since(start)
	res.Seconds = res.Duration.Seconds()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("push interrupted (no tag was written; run it again to resume): %w", context.Cause(ctx))
	}
	return res, err
}

// dedupe drops repeated blobs, keeping the first.
func dedupe(blobs []Blob) []Blob {
	seen := make(map[string]bool, len(blobs))
	out := make([]Blob, 0, len(blobs))
	for _, b := range blobs {
		if !seen[b.Desc.Digest.String()] {
			seen[b.Desc.Digest.String()] = true
			out = append(out, b)
		}
	}
	return out
}

func (p *pusher) emit(e Event) {
	if p.opts.Observer == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.Observer(e)
}

func (p *pusher) manifest(ctx context.Context, m Manifest, ref, label string) error {
	err := p.retry(ctx, Blob{Desc: m.Desc, Kind: label}, func() error {
		return p.repo.PutManifest(ctx, ref, m.Desc.MediaType, m.Body)
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", label, ref, err)
	}
	p.emit(Event{Kind: ManifestDone, Desc: m.Desc, Label: label})
	return nil
}

// retry runs f until it succeeds, fails for good, or the attempts are
// used up, sleeping with exponential backoff and jitter in between.
func (p *pusher) retry(ctx context.Context, b Blob, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || ctx.Err() != nil || !remote.Temporary(err) || attempt >= p.opts.Attempts {
			return err
		}
		p.retries.Add(1)
		p.emit(Event{Kind: BlobRetry, Desc: b.Desc, Label: b.Kind, Err: err})
		if err := sleep(ctx, p.backoff(attempt)); err != nil {
			return err
		}
	}
}

func (p *pusher) backoff(attempt int) time.Duration {
	d := p.opts.Backoff << (attempt - 1)
	if d > maxBackoff || d <= 0 {
		d = maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// blob gets one blob into the repository.
func (p *pusher) blob(ctx context.Context, b Blob) (BlobStatus, error) {
	p.emit(Event{Kind: BlobStart, Desc: b.Desc, Label: b.Kind})
	var exists bool
	err := p.retry(ctx, b, func() (err error) {
		exists, err = p.repo.HeadBlob(ctx, b.Desc.Digest)
		return err
	})
	if err != nil {
		return "", err
	}
	if exists {
		p.emit(Event{Kind: BlobDone, Desc: b.Desc, Label: b.Kind, Status: Exists})
		return Exists, nil
	}
	status := Uploaded
	err = p.retry(ctx, b, func() error {
		loc, mounted, err := p.repo.StartUpload(ctx, b.Desc.Digest, b.MountFrom)
		if err != nil {
			return err
		}
		if mounted {
			status = Mounted
			return nil
		}
		if last, err := p.upload(ctx, b, loc); err != nil {
			p.cancel(last) // a retry opens a new session
			return err
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	n := int64(0)
	if status == Uploaded {
		n = b.Desc.Size
	}
	p.emit(Event{Kind: BlobDone, Desc: b.Desc, Label: b.Kind, Status: status, Bytes: n})
	return status, nil
}

// cancel deletes an abandoned upload session, briefly, even when the push
// was cancelled.
func (p *pusher) cancel(loc string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.repo.CancelUpload(ctx, loc)
}

// upload sends the blob's bytes to session loc: whole, or in chunks. It
// returns the session's latest location (each PATCH answers a new one),
// which is the one to cancel when it fails.
func (p *pusher) upload(ctx context.Context, b Blob, loc string) (string, error) {
	size := b.Desc.Size
	if p.opts.ChunkSize < 0 || size <= p.opts.ChunkSize {
		rc, err := b.Open(ctx, 0)
		if err != nil {
			return loc, fmt.Errorf("%w: %w", errSource, err)
		}
		defer rc.Close()
		body, sent := p.body(b, rc, 0, size)
		err = p.repo.PutBlob(ctx, loc, b.Desc.Digest, size, body)
		sent(err == nil)
		return loc, err
	}
	var off int64
	var rc io.ReadCloser
	defer func() {
		if rc != nil {
			rc.Close()
		}
	}()
	failures := 0
	for off < size {
		if rc == nil {
			r, err := b.Open(ctx, off)
			if err != nil {
				return loc, fmt.Errorf("%w: %w", errSource, err)
			}
			rc = r
		}
		n := min(p.opts.ChunkSize, size-off)
		body, sent := p.body(b, io.LimitReader(rc, n), off, n)
		next, err := p.repo.Patch(ctx, loc, off, n, body)
		sent(err == nil)
		if err == nil {
			loc, off = next, off+n
			continue
		}
		rc.Close()
		rc = nil
		failures++
		if ctx.Err() != nil || !remote.Temporary(err) || failures >= p.opts.Attempts {
			return loc, err
		}
		// Resume where the registry stopped.
		p.retries.Add(1)
		p.emit(Event{Kind: BlobRetry, Desc: b.Desc, Label: b.Kind, Err: err})
		if err := sleep(ctx, p.backoff(failures)); err != nil {
			return loc, err
		}
		newLoc, got, serr := p.repo.UploadStatus(ctx, loc)
		if serr != nil || got > off+n || got < 0 {
			return loc, err // the session is gone: the caller starts over
		}
		loc, off = newLoc, got
	}
	return loc, p.repo.Finish(ctx, loc, b.Desc.Digest)
}

var errSource = errors.New("reading the source")

// body returns the request body for n bytes of r, the part of blob b
// that starts at base, and a function to call when the request is over,
// with whether it succeeded: only a request that succeeded counts its n
// bytes as sent. With ByteProgress, the body reports progress as bytes
// are read. Without, r goes to the transport as it is, so a file (or a
// section of one) is sent with sendfile, without copying through user
// space.
func (p *pusher) body(b Blob, r io.Reader, base, n int64) (io.Reader, func(ok bool)) {
	done := func(ok bool) {
		if ok {
			p.sent.Add(n)
		}
	}
	if p.opts.Observer == nil || !p.opts.ByteProgress {
		return r, done
	}
	return &progressReader{p: p, b: b, r: r, done: base, last: base}, done
}

type progressReader struct {
	p          *pusher
	b          Blob
	r          io.Reader
	done, last int64
}

func (pr *progressReader) Read(buf []byte) (int, error) {
	n, err := pr.r.Read(buf)
	if n > 0 {
		pr.done += int64(n)
		if pr.done-pr.last >= progressStep || pr.done == pr.b.Desc.Size {
			pr.last = pr.done
			pr.p.emit(Event{Kind: BlobProgress, Desc: pr.b.Desc, Label: pr.b.Kind, Bytes: pr.done})
		}
	}
	return n, err
}
