package ipfs_test

import (
	"github.com/dfsreg/dfsreg/internal/testutil"

	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/serve/servetest"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/ipfs"
	"github.com/dfsreg/dfsreg/internal/store/storetest"
)

// newBackend opens a backend on api with a fresh cache directory.
func newBackendOpt(t *testing.T, o ipfs.Options) *ipfs.Backend {
	t.Helper()
	if o.CacheDir == "" {
		o.CacheDir = t.TempDir()
	}
	if o.CacheSize == 0 {
		o.CacheSize = 1 << 30
	}
	b, err := ipfs.New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newBackend(t *testing.T) *ipfs.Backend {
	return newBackendOpt(t, ipfs.Options{API: sharedNode(t).api})
}

func newStore(t *testing.T, b store.Backend) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), store.Options{Root: t.TempDir(), Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBackendConformance(t *testing.T) {
	storetest.RunBackend(t, func(t *testing.T) store.Backend { return newBackend(t) })
}

func TestStoreConformance(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) *store.Store { return newStore(t, newBackend(t)) })
}

func TestBattery(t *testing.T) {
	servetest.RunBattery(t, func(t *testing.T) *store.Store { return newStore(t, newBackend(t)) })
}

func TestStartupCheck(t *testing.T) {
	port, err := testutil.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	for _, api := range []string{
		"http://127.0.0.1:" + itoa(port),
		"/ip4/127.0.0.1/tcp/" + itoa(port),
	} {
		_, err := ipfs.New(t.Context(), ipfs.Options{API: api, CacheDir: t.TempDir(), CacheSize: 1 << 20})
		if err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), api) {
			t.Errorf("New(%s) with no node there = %v; want an error saying the node at that address does not answer", api, err)
		}
	}
	for _, api := range []string{"", "127.0.0.1:5001", "ftp://x", "/ip4/nonsense"} {
		if _, err := ipfs.New(t.Context(), ipfs.Options{API: api, CacheDir: t.TempDir(), CacheSize: 1 << 20}); err == nil {
			t.Errorf("New(API %q) succeeded; want an error", api)
		}
	}
	// Both address forms reach a real node.
	k := sharedNode(t)
	for _, api := range []string{k.api, k.url(), k.url() + "/"} {
		b := newBackendOpt(t, ipfs.Options{API: api})
		if v := b.NodeVersion(); v != "0.39.0" {
			t.Errorf("New(%s): node version %q, want 0.39.0", api, v)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// put commits data as a blob through the store and returns its digest and
// recorded location.
func put(t *testing.T, s *store.Store, repo string, data []byte) (digest.Digest, store.Location) {
	t.Helper()
	d := digest.FromBytes(data)
	if _, err := s.PutBlob(t.Context(), repo, d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatalf("PutBlob(%d bytes): %v", len(data), err)
	}
	loc, err := s.BlobLocation(t.Context(), repo, d)
	if err != nil {
		t.Fatalf("BlobLocation: %v", err)
	}
	return d, loc
}

// TestCIDs: what the store records is what the node holds. Up to 1 MiB the
// CID is the one derived from the digest; `ipfs cat` of every recorded CID
// gives the blob's bytes; the pin is named after the digest.
func TestCIDs(t *testing.T) {
	k := sharedNode(t)
	s := newStore(t, newBackend(t))
	for _, size := range []int{0, 1, 1000, ipfs.ChunkSize - 1, ipfs.ChunkSize, ipfs.ChunkSize + 1, 3*ipfs.ChunkSize + 5} {
		data := storetest.Payload(uint64(size)+1, size)
		d, loc := put(t, s, "cids", data)
		if !loc.Pinned || loc.Locator == "" {
			t.Fatalf("%d bytes: recorded location %+v, want a pinned CID", size, loc)
		}
		derived, err := ipfs.DigestCID(d)
		if err != nil {
			t.Fatal(err)
		}
		if size <= ipfs.MaxDerivableSize && loc.Locator != derived.String() {
			t.Errorf("%d bytes: recorded CID %s, derived from the digest %s", size, loc.Locator, derived)
		}
		if size > ipfs.MaxDerivableSize && loc.Locator == derived.String() {
			t.Errorf("%d bytes: recorded CID %s is a single raw block; want a UnixFS root over 1 MiB chunks", size, loc.Locator)
		}
		if !strings.HasPrefix(loc.Locator, "bafk") && !strings.HasPrefix(loc.Locator, "bafy") {
			t.Errorf("%d bytes: CID %s is not CIDv1 base32", size, loc.Locator)
		}
		out, err := k.ipfs(t.Context(), "cat", loc.Locator)
		if err != nil {
			t.Fatalf("ipfs cat %s: %v\n%s", loc.Locator, err, out)
		}
		if !bytes.Equal(out, data) {
			t.Errorf("%d bytes: ipfs cat %s gave %d bytes that differ", size, loc.Locator, len(out))
		}
		out, err = k.ipfs(t.Context(), "pin", "ls", "--type=recursive", "--names", loc.Locator)
		if err != nil || !strings.Contains(string(out), d.String()) {
			t.Errorf("%d bytes: ipfs pin ls %s = %q, %v; want a recursive pin named %s", size, loc.Locator, out, err, d)
		}
		if size > ipfs.ChunkSize {
			// 1 MiB raw leaves under the root.
			out, err := k.ipfs(t.Context(), "refs", loc.Locator)
			if err != nil {
				t.Fatalf("ipfs refs: %v\n%s", err, out)
			}
			refs := strings.Fields(string(out))
			if want := (size + ipfs.ChunkSize - 1) / ipfs.ChunkSize; len(refs) != want {
				t.Errorf("%d bytes: %d leaves, want %d", size, len(refs), want)
			}
			for _, r := range refs {
				if !strings.HasPrefix(r, "bafkrei") {
					t.Errorf("%d bytes: leaf %s is not a raw sha2-256 CIDv1 block", size, r)
				}
			}
		}
	}
}

// TestDigestCID: the derivation agrees with kubo's CID of the empty file.
func TestDigestCID(t *testing.T) {
	// The CID of the empty blob, as `ipfs add --cid-version=1 --raw-leaves` of
	// an empty file gives it.
	c, err := ipfs.DigestCID(digest.FromBytes(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"; got != want {
		t.Errorf("DigestCID(empty) = %s, want %s", got, want)
	}
	if _, err := ipfs.DigestCID(digest.Digest("sha512:" + strings.Repeat("0", 128))); err == nil {
		t.Error("DigestCID of a non-sha256 digest succeeded")
	}
}

// TestDeleteUnpins: Delete drops the pin, and the node's repo gc then
// reclaims the blocks.
func TestDeleteUnpins(t *testing.T) {
	k := sharedNode(t)
	b := newBackend(t)
	s := newStore(t, b)
	data := storetest.Payload(42, 2*ipfs.ChunkSize+10)
	d, loc := put(t, s, "del", data)
	if out, err := k.ipfs(t.Context(), "pin", "ls", "--type=recursive", loc.Locator); err != nil {
		t.Fatalf("before Delete: not pinned: %v\n%s", err, out)
	}
	if err := b.DeleteLocated(t.Context(), d, loc.Locator); err != nil {
		t.Fatal(err)
	}
	if out, err := k.ipfs(t.Context(), "pin", "ls", "--type=recursive", loc.Locator); err == nil {
		t.Fatalf("after Delete: still pinned:\n%s", out)
	}
	if _, err := b.Stat(t.Context(), d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if out, err := k.ipfs(t.Context(), "repo", "gc"); err != nil {
		t.Fatalf("ipfs repo gc: %v\n%s", err, out)
	}
	if out, err := k.ipfs(t.Context(), "block", "stat", "--offline", loc.Locator); err == nil {
		t.Fatalf("after repo gc the root block is still there:\n%s", out)
	}
	// Deleting again, by digest or by CID, is not an error.
	if err := b.Delete(t.Context(), d); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if err := b.DeleteLocated(t.Context(), d, loc.Locator); err != nil {
		t.Fatalf("second DeleteLocated: %v", err)
	}
}

// TestCache: the cache holds at most its size, evicts the least recently
// used blob, serves hits from disk and misses from the node, and refills
// on a whole read; a blob larger than the cache is never cached.
func TestCache(t *testing.T) {
	k := sharedNode(t)
	p := newProxy(t, "127.0.0.1:"+itoa(k.port))
	dir := t.TempDir()
	const mib = 1 << 20
	b := newBackendOpt(t, ipfs.Options{API: p.url(), CacheDir: dir, CacheSize: 5 * mib})
	s := newStore(t, b)
	ctx := t.Context()
	a := storetest.Payload(1, 2*mib)
	c := storetest.Payload(2, 2*mib)
	big := storetest.Payload(3, 8*mib)
	da, _ := put(t, s, "cache", a)
	dc, _ := put(t, s, "cache", c)
	cached := func(d digest.Digest) bool {
		_, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d.Encoded()[:2], d.Encoded()))
		return err == nil
	}
	if !cached(da) || !cached(dc) {
		t.Fatalf("after two 2 MiB pushes into a 5 MiB cache: a cached %v, c cached %v; want both", cached(da), cached(dc))
	}
	read := func(d digest.Digest, off, n int64) []byte {
		t.Helper()
		rc, err := s.OpenBlob(ctx, "cache", d, off, n)
		if err != nil {
			t.Fatalf("OpenBlob(%s, %d, %d): %v", d, off, n, err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("reading %s: %v", d, err)
		}
		return got
	}
	// A hit: nothing comes from the node.
	before := p.fromNode.Load()
	st0 := b.Stats()
	if got := read(da, 0, -1); !bytes.Equal(got, a) {
		t.Fatal("cache hit: wrong bytes")
	}
	if st := b.Stats(); st.CacheHits != st0.CacheHits+1 {
		t.Errorf("a cached read counted %d hits, want 1", st.CacheHits-st0.CacheHits)
	}
	if n := p.fromNode.Load() - before; n != 0 {
		t.Errorf("a cache hit read %d bytes from the node", n)
	}
	// a is now the most recently used: the big blob does not fit at all,
	// and a third 2 MiB blob evicts c, not a.
	dbig, _ := put(t, s, "cache", big)
	if cached(dbig) {
		t.Error("an 8 MiB blob was cached in a 5 MiB cache")
	}
	e := storetest.Payload(4, 2*mib)
	de, _ := put(t, s, "cache", e)
	if !cached(da) || cached(dc) || !cached(de) {
		t.Errorf("after a third blob: a %v, c %v, e %v; want a and e cached, c evicted", cached(da), cached(dc), cached(de))
	}
	if st := b.Stats(); st.CacheBytes > 5*mib || st.CacheEvictions == 0 {
		t.Errorf("cache holds %d bytes (limit %d), %d evictions", st.CacheBytes, 5*mib, st.CacheEvictions)
	}
	// Evicted: a range read streams only that range from the node.
	before = p.fromNode.Load()
	if got := read(dc, mib+3, 1000); !bytes.Equal(got, c[mib+3:mib+3+1000]) {
		t.Fatal("range read of an evicted blob: wrong bytes")
	}
	if n := p.fromNode.Load() - before; n <= 1000 || n > 64<<10 {
		t.Errorf("a 1000-byte range of an evicted 2 MiB blob moved %d bytes from the node", n)
	}
	if cached(dc) {
		t.Error("a range read refilled the cache")
	}
	// The big blob: ranges come from the node, never the whole blob.
	before = p.fromNode.Load()
	if got := read(dbig, 5*mib, mib); !bytes.Equal(got, big[5*mib:6*mib]) {
		t.Fatal("range read of the big blob: wrong bytes")
	}
	if n := p.fromNode.Load() - before; n < mib || n > mib+64<<10 {
		t.Errorf("a 1 MiB range of an 8 MiB blob moved %d bytes from the node", n)
	}
	if got := read(dbig, 0, -1); !bytes.Equal(got, big) {
		t.Fatal("whole read of the big blob: wrong bytes")
	}
	if cached(dbig) {
		t.Error("a whole read cached a blob larger than the cache")
	}
	// A whole read of the evicted blob refills the cache (evicting the
	// least recently used, a), and the next read is a hit.
	if got := read(dc, 0, -1); !bytes.Equal(got, c) {
		t.Fatal("whole read of an evicted blob: wrong bytes")
	}
	if !cached(dc) || cached(da) {
		t.Errorf("after a whole read of c: c cached %v, a cached %v; want c refilled and a evicted", cached(dc), cached(da))
	}
	before = p.fromNode.Load()
	if got := read(dc, 0, -1); !bytes.Equal(got, c) || p.fromNode.Load() != before {
		t.Error("the refilled blob was not served from the cache")
	}
	// A reopened backend finds the cache as it was.
	b2 := newBackendOpt(t, ipfs.Options{API: p.url(), CacheDir: dir, CacheSize: 5 * mib})
	if st := b2.Stats(); st.CacheBlobs != 2 || st.CacheBytes != 4*mib {
		t.Errorf("reopened cache: %d blobs, %d bytes; want 2, %d", st.CacheBlobs, st.CacheBytes, 4*mib)
	}
}

// TestNodeUnreachable: with the node unreachable, cached blobs are still
// served and uncached ones fail (not "unknown"); a commit waits for the node
// to come back (retried with backoff) and is then durable.
func TestNodeUnreachable(t *testing.T) {
	k := sharedNode(t)
	p := newProxy(t, "127.0.0.1:"+itoa(k.port))
	dir := t.TempDir()
	b := newBackendOpt(t, ipfs.Options{API: p.url(), CacheDir: dir, CacheSize: 3 << 20, ReadRetryFor: 500 * time.Millisecond})
	s := newStore(t, b)
	ctx := t.Context()
	hot := storetest.Payload(10, 2<<20)
	cold := storetest.Payload(11, 2<<20)
	dcold, _ := put(t, s, "down", cold)
	dhot, _ := put(t, s, "down", hot) // evicts cold
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping with the node up: %v", err)
	}
	p.down()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping with the node down succeeded: /readyz would say ready")
	}
	rc, err := s.OpenBlob(ctx, "down", dhot, 0, -1)
	if err != nil {
		t.Fatalf("cached blob with the node down: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, hot) {
		t.Fatalf("cached blob with the node down: %d bytes, %v", len(got), err)
	}
	if rc, err := s.OpenBlob(ctx, "down", dcold, 0, -1); err == nil {
		rc.Close()
		t.Fatal("an evicted blob was readable with the node down")
	} else if errors.Is(err, store.ErrNotFound) || strings.Contains(err.Error(), "BLOB_UNKNOWN") {
		t.Fatalf("an evicted blob with the node down: %v; want a server error, not unknown", err)
	}
	// A push while the node is down completes once it is back.
	data := storetest.Payload(12, 1<<20+7)
	d := digest.FromBytes(data)
	done := make(chan error, 1)
	go func() {
		_, err := s.PutBlob(context.WithoutCancel(ctx), "down", d, int64(len(data)), bytes.NewReader(data))
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for b.Stats().Retries == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if b.Stats().Retries == 0 {
		t.Fatal("no retry while the node was down")
	}
	select {
	case err := <-done:
		t.Fatalf("PutBlob returned while the node was down: %v", err)
	default:
	}
	p.up()
	if err := <-done; err != nil {
		t.Fatalf("PutBlob across the outage: %v", err)
	}
	loc, err := s.BlobLocation(ctx, "down", d)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := k.ipfs(ctx, "cat", loc.Locator); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("ipfs cat %s after the outage: %d bytes, %v", loc.Locator, len(out), err)
	}
}

// TestBrokenStreamResumes: a read from the node whose connection breaks
// midway picks up where it stopped.
func TestBrokenStreamResumes(t *testing.T) {
	k := sharedNode(t)
	p := newProxy(t, "127.0.0.1:"+itoa(k.port))
	b := newBackendOpt(t, ipfs.Options{API: p.url(), CacheSize: 1 << 20})
	s := newStore(t, b)
	data := storetest.Payload(20, 16<<20) // larger than the cache: from the node
	d, _ := put(t, s, "resume", data)
	rc, err := s.OpenBlob(t.Context(), "resume", d, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	p.down() // breaks the stream
	p.up()
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading on after the connection broke: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes across a broken connection; they differ from the blob", len(got))
	}
	if b.Stats().Resumes == 0 {
		t.Error("no resume counted: the connection did not break where the test meant it to")
	}
}

// TestKillDuringPushes: kubo is killed (SIGKILL) and restarted while blobs
// are being pushed. Every push that was acknowledged is pinned on the
// restarted node and reads back whole from it.
func TestKillDuringPushes(t *testing.T) {
	k := ownNode(t)
	b := newBackendOpt(t, ipfs.Options{API: k.api, CacheSize: 1 << 20, RetryFor: 2 * time.Minute})
	s := newStore(t, b)
	ctx := t.Context()
	type result struct {
		d    digest.Digest
		data []byte
		err  error
	}
	const pushers, each = 4, 10
	results := make(chan result, pushers*each)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				size := 1000 + (w*each+i)*397*1024 // up to ~15 MiB
				data := storetest.Payload(uint64(1000+w*each+i), size)
				d := digest.FromBytes(data)
				_, err := s.PutBlob(ctx, "kill", d, int64(len(data)), bytes.NewReader(data))
				results <- result{d, data, err}
			}
		}()
	}
	close(start)
	// Kill the node while pushes run, keep it down a moment (pushes keep
	// arriving and retrying), then restart it.
	waitAdds(t, b, 5)
	k.kill()
	time.Sleep(1500 * time.Millisecond)
	if err := k.start(); err != nil {
		t.Fatal(err)
	}
	// And once more, later in the run.
	waitAdds(t, b, 20)
	k.kill()
	time.Sleep(500 * time.Millisecond)
	if err := k.start(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	if b.Stats().Retries == 0 {
		t.Fatal("no add was retried: the kills did not hit a push")
	}
	// A fresh backend with an empty cache: every byte comes from the node.
	fresh := newBackendOpt(t, ipfs.Options{API: k.api, CacheSize: 1 << 20})
	acked := 0
	for r := range results {
		if r.err != nil {
			t.Logf("push of %s not acknowledged: %v", r.d, r.err)
			continue
		}
		acked++
		loc, err := s.BlobLocation(ctx, "kill", r.d)
		if err != nil {
			t.Fatalf("acknowledged blob %s: %v", r.d, err)
		}
		if out, err := k.ipfs(ctx, "pin", "ls", "--type=recursive", loc.Locator); err != nil {
			t.Errorf("acknowledged blob %s (%s) is not pinned after the restarts: %v\n%s", r.d, loc.Locator, err, out)
		}
		rc, err := fresh.OpenLocated(ctx, r.d, loc.Locator, 0, -1)
		if err != nil {
			t.Errorf("acknowledged blob %s: %v", r.d, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, r.data) {
			t.Errorf("acknowledged blob %s read back %d of %d bytes (%v), or different bytes", r.d, len(got), len(r.data), err)
		}
	}
	if acked == 0 {
		t.Fatal("no push was acknowledged")
	}
	t.Logf("%d of %d pushes acknowledged, %d retries", acked, pushers*each, b.Stats().Retries)
}

// waitAdds waits until b has added n blobs, failing after a minute.
func waitAdds(t *testing.T, b *ipfs.Backend, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for b.Stats().Adds < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d blobs added after a minute, waiting for %d", b.Stats().Adds, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
