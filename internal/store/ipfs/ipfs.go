// Package ipfs is the IPFS blob backend: a kubo node, reached over its RPC
// API, holds every blob added and pinned; a bounded local cache serves reads
// when it can.
//
// Writes stage on local disk. Commit adds the staged file to the node with
// explicit import options (CIDv1, raw leaves, sha2-256, 1 MiB chunks, no
// inlining: the RPC client's own defaults are CIDv0 and 256 KiB chunks) and
// pins it in the same call, retrying with backoff while the node does not
// answer; the staged file then becomes the cached copy. A blob of at most
// 1 MiB is one raw block, so its CID follows from its digest: Commit checks
// that the node computed exactly that one. Commit reports the CID (a
// store.Location), which the store records with the blob in the transaction
// that makes it visible, and hands back on reads (OpenLocated).
//
// Reads come from the cache when the blob is there, else stream from the
// node by CID with offset and length (a Range request never fetches the
// whole blob); a whole-blob read refills the cache. Delete unpins: the
// node's own repo gc reclaims the space.
package ipfs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/kubo/client/rpc"
	caopts "github.com/ipfs/kubo/core/coreiface/options"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	mh "github.com/multiformats/go-multihash"
	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/store"
)

// Import options: every blob is added with exactly these.
const (
	// ChunkSize is the UnixFS chunk size ("size-1048576").
	ChunkSize = 1 << 20
	// MaxDerivableSize: a blob of at most this many bytes is a single raw
	// leaf, whose CID is DigestCID of its digest.
	MaxDerivableSize = ChunkSize
)

// Options configure New.
type Options struct {
	// API is the node's RPC API: a multiaddr (/ip4/127.0.0.1/tcp/5001,
	// /unix/PATH) or a URL (http://127.0.0.1:5001).
	API string
	// CacheDir holds staged uploads, the blob cache and the backend's
	// digest -> CID index.
	CacheDir string
	// CacheSize bounds the cached blobs, in bytes.
	CacheSize int64
	// RetryFor is how long adds, pins and unpins are retried while the
	// node does not answer (default 1 min); ReadRetryFor the same for
	// reads that miss the cache (default 10 s).
	RetryFor, ReadRetryFor time.Duration
	// ReadOnly makes a backend that only reads blobs by their recorded
	// CID (store.Options.ReadOnly, dfsreg inspect): nothing is created in
	// CacheDir (it may be ""), reads neither use nor fill the cache, and
	// writes and deletes fail with store.ErrReadOnly.
	ReadOnly bool
}

// Backend is the IPFS store.Backend.
type Backend struct {
	api      *rpc.HttpApi
	addr     string
	version  string
	pinNames bool // the node names pins added by `add` (kubo >= 0.37)

	uploads string
	cache   *cache
	index   *index

	retryFor, readRetryFor time.Duration

	adds, retries, resumes atomic.Int64

	readOnly bool // Options.ReadOnly: no cache, no index, no writes
}

var _ store.LocatingBackend = (*Backend)(nil)

// New connects to the node at o.API, checks that it answers, and opens the
// cache directory.
func New(ctx context.Context, o Options) (*Backend, error) {
	if o.RetryFor <= 0 {
		o.RetryFor = time.Minute
	}
	if o.ReadRetryFor <= 0 {
		o.ReadRetryFor = 10 * time.Second
	}
	if o.ReadOnly {
		return connect(ctx, o)
	}
	if o.CacheDir == "" {
		return nil, errors.New("ipfs backend: no cache directory")
	}
	if o.CacheSize <= 0 {
		return nil, fmt.Errorf("ipfs backend: cache size %d: must be positive", o.CacheSize)
	}
	b, err := connect(ctx, o)
	if err != nil {
		return nil, err
	}
	b.uploads = filepath.Join(o.CacheDir, "uploads")
	if err := os.MkdirAll(b.uploads, 0o755); err != nil {
		return nil, fmt.Errorf("ipfs backend: %w", err)
	}
	if b.cache, err = newCache(o.CacheDir, o.CacheSize); err != nil {
		return nil, fmt.Errorf("ipfs backend: cache %s: %w", o.CacheDir, err)
	}
	if b.index, err = openIndex(o.CacheDir); err != nil {
		return nil, err
	}
	return b, nil
}

// connect makes the backend for o (defaults applied) and checks the node;
// it touches nothing on disk, which is all a read-only backend needs.
func connect(ctx context.Context, o Options) (*Backend, error) {
	api, err := newAPI(o.API)
	if err != nil {
		return nil, err
	}
	b := &Backend{api: api, addr: o.API, readOnly: o.ReadOnly, retryFor: o.RetryFor, readRetryFor: o.ReadRetryFor}
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// writable is the backend's one read-only guard: every write and delete
// asks it first.
func (b *Backend) writable() error {
	if !b.readOnly {
		return nil
	}
	return store.ErrReadOnly
}

// newAPI makes the RPC client for a multiaddr or URL.
func newAPI(addr string) (*rpc.HttpApi, error) {
	if addr == "" {
		return nil, errors.New("ipfs backend: no API address (storage.ipfs.api)")
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	hc := &http.Client{Transport: tr}
	if strings.HasPrefix(addr, "/") {
		m, err := ma.NewMultiaddr(addr)
		if err != nil {
			return nil, fmt.Errorf("ipfs backend: API address %q is not a multiaddr: %w", addr, err)
		}
		network, address, err := manet.DialArgs(m)
		if err != nil {
			return nil, fmt.Errorf("ipfs backend: API address %q: %w", addr, err)
		}
		if network == "unix" {
			tr.Proxy = nil
			tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", address)
			}
			return rpc.NewURLApiWithClient("http://unix", hc)
		}
		return rpc.NewApiWithClient(m, hc)
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ipfs backend: API address %q: want a multiaddr (/ip4/127.0.0.1/tcp/5001) or an http(s) URL (http://127.0.0.1:5001)", addr)
	}
	return rpc.NewURLApiWithClient(strings.TrimSuffix(u.String(), "/"), hc)
}

// check asks the node for its version: it must answer, and be kubo.
func (b *Backend) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var v struct{ Version string }
	if err := b.api.Request("version").Exec(ctx, &v); err != nil {
		return fmt.Errorf("ipfs backend: the kubo node at %s does not answer (is `ipfs daemon` running, and is storage.ipfs.api its RPC API address?): %w", b.addr, err)
	}
	if v.Version == "" {
		return fmt.Errorf("ipfs backend: %s answered `version` without a version: not a kubo RPC API?", b.addr)
	}
	b.version = v.Version
	b.pinNames = versionAtLeast(v.Version, 0, 37)
	return nil
}

// versionAtLeast compares a kubo version ("0.39.0", "0.40.0-rc1") to
// major.minor.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || (maj == major && mnr >= minor)
}

// NodeVersion is the kubo version the node reported at startup.
func (b *Backend) NodeVersion() string { return b.version }

// Close closes the index. Reads in flight may fail.
func (b *Backend) Close() error {
	if b.readOnly {
		return nil
	}
	return b.index.close()
}

// DigestCID is the CID of a blob of at most MaxDerivableSize bytes as this
// backend adds it: CIDv1, raw codec, the digest's sha2-256 multihash.
func DigestCID(d digest.Digest) (cid.Cid, error) {
	if err := d.Validate(); err != nil {
		return cid.Undef, err
	}
	if d.Algorithm() != digest.SHA256 {
		return cid.Undef, fmt.Errorf("digest %s: only sha256 digests map to CIDs", d)
	}
	raw, err := hex.DecodeString(d.Encoded())
	if err != nil {
		return cid.Undef, err
	}
	m, err := mh.Encode(raw, mh.SHA2_256)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, m), nil
}

// Stats counts what the backend did since New.
type Stats struct {
	CacheHits, CacheMisses, CacheEvictions int64
	CacheBytes                             int64 // held now
	CacheBlobs                             int
	Adds                                   int64 // successful adds to the node
	Retries                                int64 // node calls retried
	Resumes                                int64 // node reads resumed mid-stream
}

// Stats returns the backend's counters.
func (b *Backend) Stats() Stats {
	if b.readOnly {
		return Stats{Retries: b.retries.Load(), Resumes: b.resumes.Load()}
	}
	n, k := b.cache.usage()
	return Stats{
		CacheHits: b.cache.hits.Load(), CacheMisses: b.cache.misses.Load(), CacheEvictions: b.cache.evictions.Load(),
		CacheBytes: n, CacheBlobs: k,
		Adds: b.adds.Load(), Retries: b.retries.Load(), Resumes: b.resumes.Load(),
	}
}

// Locate returns the CID and size this backend recorded for blob d, or
// store.ErrNotFound.
func (b *Backend) Locate(ctx context.Context, d digest.Digest) (cid.Cid, int64, error) {
	if b.readOnly { // blobs are reached by recorded CID
		return cid.Undef, 0, store.ErrNotFound
	}
	e, ok, err := b.index.get(ctx, d)
	if err != nil {
		return cid.Undef, 0, err
	}
	if !ok {
		return cid.Undef, 0, store.ErrNotFound
	}
	return e.cid, e.size, nil
}

// Open implements store.Backend.
func (b *Backend) Open(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	c, _, err := b.Locate(ctx, d)
	if err != nil {
		return nil, err
	}
	return b.open(ctx, d, c, offset, length)
}

// OpenLocated implements store.LocatingBackend: locator is the CID.
func (b *Backend) OpenLocated(ctx context.Context, d digest.Digest, locator string, offset, length int64) (io.ReadCloser, error) {
	c, err := cid.Decode(locator)
	if err != nil {
		return nil, fmt.Errorf("ipfs backend: blob %s: bad CID %q: %w", d, locator, err)
	}
	return b.open(ctx, d, c, offset, length)
}

func (b *Backend) open(ctx context.Context, d digest.Digest, c cid.Cid, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("ipfs backend: negative offset %d", offset)
	}
	if !b.readOnly { // read-only: reads neither use nor fill the cache
		f, err := b.cache.open(d)
		if err != nil {
			return nil, err
		}
		if f != nil {
			return store.FileRange(f, offset, length)
		}
	}
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	r := &catReader{b: b, ctx: ctx, path: path.FromCid(c).String(), off: offset, left: length}
	if err := r.connect(); err != nil {
		if isNotFound(err) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("ipfs backend: reading %s (%s): %w", d, c, err)
	}
	if offset == 0 && length < 0 && !b.readOnly {
		if fr := b.fill(d, r); fr != nil {
			return fr, nil
		}
	}
	return r, nil
}

// Stat implements store.Backend.
func (b *Backend) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	_, size, err := b.Locate(ctx, d)
	return size, err
}

// Delete implements store.Backend: it unpins the blob and forgets it.
func (b *Backend) Delete(ctx context.Context, d digest.Digest) error {
	if err := b.writable(); err != nil {
		return err
	}
	c, _, err := b.Locate(ctx, d)
	if errors.Is(err, store.ErrNotFound) {
		return b.cache.remove(d)
	}
	if err != nil {
		return err
	}
	return b.deleteCID(ctx, d, c)
}

// DeleteLocated implements store.LocatingBackend.
func (b *Backend) DeleteLocated(ctx context.Context, d digest.Digest, locator string) error {
	if err := b.writable(); err != nil {
		return err
	}
	c, err := cid.Decode(locator)
	if err != nil {
		return fmt.Errorf("ipfs backend: blob %s: bad CID %q: %w", d, locator, err)
	}
	return b.deleteCID(ctx, d, c)
}

// deleteCID unpins c, then forgets d: a crash in between leaves d indexed,
// and the next Delete finishes the job.
func (b *Backend) deleteCID(ctx context.Context, d digest.Digest, c cid.Cid) error {
	if err := b.unpin(ctx, c); err != nil {
		return err
	}
	if err := b.index.remove(ctx, d); err != nil {
		return err
	}
	return b.cache.remove(d)
}

// unpin removes the recursive pin on c; a CID that is not pinned is done.
func (b *Backend) unpin(ctx context.Context, c cid.Cid) error {
	err := b.retry(ctx, b.retryFor, retryWrite, func() error {
		err := b.api.Pin().Rm(ctx, path.FromCid(c), caopts.Pin.RmRecursive(true))
		if err != nil && strings.Contains(err.Error(), "not pinned") {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ipfs backend: unpinning %s: %w", c, err)
	}
	return nil
}

// pinned says whether c is pinned recursively.
func (b *Backend) pinned(ctx context.Context, c cid.Cid) (bool, error) {
	_, ok, err := b.api.Pin().IsPinned(ctx, path.FromCid(c), caopts.Pin.IsPinned.Recursive())
	return ok, err
}

// Stage implements store.Backend. Uploads stage in CacheDir/uploads.
func (b *Backend) Stage(_ context.Context, handle string, offset int64) (store.Staged, error) {
	if err := b.writable(); err != nil {
		return nil, err
	}
	handle, file, err := store.StageFile(b.uploads, handle, offset)
	if err != nil {
		return nil, fmt.Errorf("ipfs backend: %w", err)
	}
	return &staged{b: b, handle: handle, file: file}, nil
}

func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Ping asks the node for its version (a cheap RPC call).
func (b *Backend) Ping(ctx context.Context) error {
	var v struct{ Version string }
	if err := b.api.Request("version").Exec(ctx, &v); err != nil {
		return fmt.Errorf("ipfs backend: the kubo node at %s does not answer: %w", b.addr, err)
	}
	return nil
}
