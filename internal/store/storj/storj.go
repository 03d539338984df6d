// Package storj is the Storj DCS blob backend: blobs live in a bucket on the
// decentralized cloud, reached with storj.io/uplink.
//
// Layout in the bucket: a committed blob is the object blobs/<alg>/<hex>; an
// upload in progress is a Storj multipart upload to uploads/<id>, committed
// there and then moved (server side) to its blob key once its digest is
// known to match. Objects are only ever read by key: nothing depends on
// Storj's listing order, which is not alphabetical.
//
// An upload's bytes are spooled in a local file until they make a full part
// (Config.PartSize, at least 5 MiB: satellites reject smaller parts except
// the last); the full part is then streamed from the file to Storj. The
// Handle of a staged upload names the multipart upload and how much of it
// has been uploaded, so that the store can persist it and resume the upload
// in another process, where the spool is still on disk.
package storj

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"storj.io/common/rpc/rpcstatus"
	"storj.io/uplink"

	"github.com/dfsreg/dfsreg/internal/store"
)

const (
	// MinPartSize is the smallest part size production satellites accept
	// for a part that is not the last.
	MinPartSize = 5 << 20
	// DefaultPartSize is one Storj segment.
	DefaultPartSize = 64 << 20

	defaultRetries      = 6
	defaultRetryBackoff = 250 * time.Millisecond
	maxRetryBackoff     = 5 * time.Second
)

// Config configures New.
type Config struct {
	// Bucket is the bucket holding the blobs; it must exist.
	Bucket string
	// AccessGrant is a serialized access grant; AccessGrantFile names a
	// file holding one (give exactly one). The grant is a secret: it never
	// appears in an error.
	AccessGrant     string
	AccessGrantFile string
	// PartSize is the multipart part size (0: DefaultPartSize; at least
	// MinPartSize).
	PartSize int64
	// SpoolDir is the local directory where uploads buffer their current
	// part (at most two parts per upload in progress). It must survive a
	// restart for uploads to resume.
	SpoolDir string
	// Retries is how many times an operation is attempted when it fails
	// with a transient error (0: 6); RetryBackoff is the first pause
	// between attempts (0: 250ms), doubled after each, at most 5s.
	Retries      int
	RetryBackoff time.Duration
	// OnRetry, if set, is called with each transient error before the
	// operation that failed is tried again (for logs and tests).
	OnRetry func(err error)
	// Uplink configures the uplink library (user agent, dialer).
	Uplink uplink.Config
}

// Backend is the Storj store.Backend.
type Backend struct {
	project  *uplink.Project
	bucket   string
	partSize int64
	spool    string
	retries  int
	backoff  time.Duration
	onRetry  func(error)
	secret   string
}

var _ store.Backend = (*Backend)(nil)

// New opens the project of the access grant and checks that the bucket is
// there and the grant may use it.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("storj backend: no bucket given")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("storj backend: no spool directory given")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("storj backend: part size %d is below the %d bytes satellites accept", cfg.PartSize, MinPartSize)
	}
	if cfg.Retries <= 0 {
		cfg.Retries = defaultRetries
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = defaultRetryBackoff
	}
	grant := cfg.AccessGrant
	switch {
	case grant != "" && cfg.AccessGrantFile != "":
		return nil, errors.New("storj backend: give an access grant or an access grant file, not both")
	case cfg.AccessGrantFile != "":
		b, err := os.ReadFile(cfg.AccessGrantFile)
		if err != nil {
			return nil, fmt.Errorf("storj backend: reading the access grant file: %w", err)
		}
		grant = strings.TrimSpace(string(b))
		if grant == "" {
			return nil, fmt.Errorf("storj backend: access grant file %s is empty", cfg.AccessGrantFile)
		}
	case grant == "":
		return nil, errors.New("storj backend: no access grant given")
	}
	b := &Backend{bucket: cfg.Bucket, partSize: cfg.PartSize, spool: cfg.SpoolDir,
		retries: cfg.Retries, backoff: cfg.RetryBackoff, onRetry: cfg.OnRetry, secret: grant}

	access, err := uplink.ParseAccess(grant)
	if err != nil {
		return nil, b.scrub(fmt.Errorf("storj backend: the access grant is not valid: %w", err))
	}
	sat := access.SatelliteAddress()
	if cfg.Uplink.UserAgent == "" {
		cfg.Uplink.UserAgent = "dfsreg"
	}
	b.project, err = cfg.Uplink.OpenProject(ctx, access)
	if err != nil {
		return nil, b.scrub(fmt.Errorf("storj backend: opening the project on satellite %s: %w", sat, err))
	}
	err = b.retry(ctx, func(ctx context.Context) error {
		_, err := b.project.StatBucket(ctx, b.bucket)
		return err
	})
	if err != nil {
		b.project.Close()
		switch {
		case errors.Is(err, uplink.ErrBucketNotFound):
			return nil, fmt.Errorf("storj backend: bucket %q does not exist on satellite %s (create it first, e.g. uplink mb sj://%s)", b.bucket, sat, b.bucket)
		case errors.Is(err, uplink.ErrBucketNameInvalid):
			return nil, fmt.Errorf("storj backend: %q is not a valid bucket name", b.bucket)
		case errors.Is(err, uplink.ErrPermissionDenied), rpcstatus.Code(err) == rpcstatus.Unauthenticated,
			rpcstatus.Code(err) == rpcstatus.PermissionDenied:
			return nil, b.scrub(fmt.Errorf("storj backend: satellite %s refused the access grant for bucket %q (wrong, revoked or expired grant, or no permission on the bucket): %w", sat, b.bucket, err))
		}
		return nil, b.scrub(fmt.Errorf("storj backend: checking bucket %q on satellite %s: %w", b.bucket, sat, err))
	}
	if err := os.MkdirAll(b.spool, 0o700); err != nil {
		b.project.Close()
		return nil, fmt.Errorf("storj backend: spool directory: %w", err)
	}
	return b, nil
}

// Close closes the connection to the project.
func (b *Backend) Close() error { return b.project.Close() }

// PartSize returns the multipart part size in use.
func (b *Backend) PartSize() int64 { return b.partSize }

func blobKey(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	return "blobs/" + string(d.Algorithm()) + "/" + d.Encoded(), nil
}

func stagingKey(id string) string { return "uploads/" + id }

// scrubbed is an error whose message had the access grant removed.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// scrub makes sure the access grant does not appear in err's message.
func (b *Backend) scrub(err error) error {
	if err == nil || b.secret == "" {
		return err
	}
	if msg := err.Error(); strings.Contains(msg, b.secret) {
		return &scrubbed{msg: strings.ReplaceAll(msg, b.secret, "[access grant]"), err: err}
	}
	return err
}

// fail wraps an error of operation op on key.
func (b *Backend) fail(op, key string, err error) error {
	return b.scrub(fmt.Errorf("storj backend: %s %s: %w", op, key, err))
}

// retry runs fn until it succeeds, fails with an error that is not
// transient, or has been tried b.retries times, pausing with exponential
// backoff and jitter between attempts.
func (b *Backend) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || attempt >= b.retries || ctx.Err() != nil || !transient(err) {
			return err
		}
		if b.onRetry != nil {
			b.onRetry(b.scrub(err))
		}
		if !b.pause(ctx, attempt) {
			return err
		}
	}
}

// transient tells whether err may go away when the operation is tried
// again: network failures, an unavailable or overloaded satellite or too few
// storage nodes answering. Answers about the request itself (not found,
// refused, invalid, over a limit) and cancellation are final.
func transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, store.ErrDigestMismatch):
		return false
	case errors.Is(err, uplink.ErrTooManyRequests):
		return true
	case errors.Is(err, uplink.ErrObjectNotFound), errors.Is(err, uplink.ErrBucketNotFound),
		errors.Is(err, uplink.ErrUploadIDInvalid), errors.Is(err, uplink.ErrPermissionDenied),
		errors.Is(err, uplink.ErrObjectKeyInvalid), errors.Is(err, uplink.ErrBucketNameInvalid),
		errors.Is(err, uplink.ErrBandwidthLimitExceeded), errors.Is(err, uplink.ErrStorageLimitExceeded),
		errors.Is(err, uplink.ErrSegmentsLimitExceeded), errors.Is(err, uplink.ErrUploadDone):
		return false
	}
	switch c := rpcstatus.Code(err); c {
	case rpcstatus.InvalidArgument, rpcstatus.NotFound, rpcstatus.AlreadyExists,
		rpcstatus.PermissionDenied, rpcstatus.ResourceExhausted, rpcstatus.FailedPrecondition,
		rpcstatus.OutOfRange, rpcstatus.Unimplemented, rpcstatus.Unauthenticated,
		rpcstatus.MethodNotAllowed, rpcstatus.Canceled:
		return false
	default:
		return c < 10000 // the Storj-specific codes are all about the request
	}
}

// pause waits before attempt number attempt+1 (exponential backoff with
// jitter); false means ctx ended first.
func (b *Backend) pause(ctx context.Context, attempt int) bool {
	delay := b.backoff
	for i := 1; i < attempt && delay < maxRetryBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, maxRetryBackoff)
	t := time.NewTimer(delay/2 + rand.N(delay/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Stat implements store.Backend.
func (b *Backend) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	key, err := blobKey(d)
	if err != nil {
		return 0, err
	}
	return b.stat(ctx, key)
}

func (b *Backend) stat(ctx context.Context, key string) (int64, error) {
	var size int64
	err := b.retry(ctx, func(ctx context.Context) error {
		o, err := b.project.StatObject(ctx, b.bucket, key)
		if err == nil {
			size = o.System.ContentLength
		}
		return err
	})
	if errors.Is(err, uplink.ErrObjectNotFound) {
		return 0, store.ErrNotFound
	}
	if err != nil {
		return 0, b.fail("stat", key, err)
	}
	return size, nil
}

// exists tells whether the object at key is there.
func (b *Backend) exists(ctx context.Context, key string) (bool, error) {
	_, err := b.stat(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements store.Backend.
func (b *Backend) Delete(ctx context.Context, d digest.Digest) error {
	key, err := blobKey(d)
	if err != nil {
		return err
	}
	return b.delete(ctx, key)
}

func (b *Backend) delete(ctx context.Context, key string) error {
	err := b.retry(ctx, func(ctx context.Context) error {
		_, err := b.project.DeleteObject(ctx, b.bucket, key)
		return err
	})
	if err != nil && !errors.Is(err, uplink.ErrObjectNotFound) {
		return b.fail("delete", key, err)
	}
	return nil
}

// Open implements store.Backend. The range is asked of Storj, which sends
// only the segments (and within them the stripes) that hold it; a read that
// fails midway with a transient error is resumed where it stopped.
func (b *Backend) Open(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	key, err := blobKey(d)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("storj backend: negative offset %d", offset)
	}
	if length == 0 {
		if _, err := b.stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	return b.open(ctx, key, offset, length)
}

func (b *Backend) open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	r := &reader{b: b, ctx: ctx, key: key, off: offset, left: length}
	if err := r.start(); err != nil {
		if errors.Is(err, uplink.ErrObjectNotFound) {
			return nil, store.ErrNotFound
		}
		if rpcstatus.Code(err) == rpcstatus.InvalidArgument || rpcstatus.Code(err) == rpcstatus.OutOfRange {
			// A range starting at or past the end: there is nothing to read,
			// if the object exists.
			if size, serr := b.stat(ctx, key); serr == nil && offset >= size {
				return io.NopCloser(strings.NewReader("")), nil
			}
		}
		return nil, b.fail("download", key, err)
	}
	return r, nil
}

// reader is a download that reopens itself at the current position when
// it fails with a transient error.
type reader struct {
	b     *Backend
	ctx   context.Context
	key   string
	off   int64
	left  int64 // < 0: to the end
	dl    *uplink.Download
	fails int // consecutive failed reads
}

func (r *reader) start() error {
	return r.b.retry(r.ctx, func(ctx context.Context) error {
		dl, err := r.b.project.DownloadObject(ctx, r.b.bucket, r.key, &uplink.DownloadOptions{Offset: r.off, Length: r.left})
		if err == nil {
			r.dl = dl
		}
		return err
	})
}

func (r *reader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.left > 0 && int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for {
		if r.dl == nil {
			if err := r.start(); err != nil {
				return 0, r.b.fail("download", r.key, err)
			}
		}
		n, err := r.dl.Read(p)
		r.off += int64(n)
		if r.left > 0 {
			r.left -= int64(n)
		}
		if n > 0 {
			r.fails = 0
		}
		if err == nil || errors.Is(err, io.EOF) {
			return n, err
		}
		r.dl.Close()
		r.dl = nil
		r.fails++
		if r.fails >= r.b.retries || r.ctx.Err() != nil || !transient(err) {
			return n, r.b.fail("download", r.key, err)
		}
		if r.b.onRetry != nil {
			r.b.onRetry(r.b.scrub(err))
		}
		if n > 0 {
			return n, nil // reopened on the next call
		}
		if !r.b.pause(r.ctx, r.fails) {
			return 0, r.b.fail("download", r.key, err)
		}
	}
}

func (r *reader) Close() error {
	if r.dl == nil {
		return nil
	}
	err := r.dl.Close()
	r.dl = nil
	return err
}

// Ping checks that the satellite answers for the bucket.
func (b *Backend) Ping(ctx context.Context) error {
	if _, err := b.project.StatBucket(ctx, b.bucket); err != nil {
		return b.scrub(fmt.Errorf("storj backend: checking bucket %q: %w", b.bucket, err))
	}
	return nil
}
