package ipfs

import (
	"container/list"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// cache is the bounded local copy of blobs in front of the node: files at
// blobs/<alg>/<xx>/<hex> below its directory, complete and fsynced before
// they are renamed into place, at most limit bytes in all, least recently
// used evicted first.
//
// Recency lives in memory and, coarsely (touchEvery), in the files' mtimes,
// from which a restarted process rebuilds it. Other processes sharing the
// directory (gc, inspect) rarely add to it; their files are adopted when
// read. A file removed under a reader is harmless: the reader holds it open,
// and a reader that finds it gone reads from the node.
type cache struct {
	dir   string // .../blobs
	tmp   string // .../tmp: fills in progress
	limit int64

	mu      sync.Mutex
	used    int64
	lru     list.List // of *cacheEntry; front: most recently used
	items   map[digest.Digest]*list.Element
	filling map[digest.Digest]bool

	hits, misses, evictions atomic.Int64
}

type cacheEntry struct {
	d       digest.Digest
	size    int64
	touched time.Time // when the file's mtime was last set
}

// touchEvery bounds how often a hit rewrites a file's mtime.
const touchEvery = time.Minute

func newCache(dir string, limit int64) (*cache, error) {
	c := &cache{dir: filepath.Join(dir, "blobs"), tmp: filepath.Join(dir, "tmp"), limit: limit,
		items: map[digest.Digest]*list.Element{}, filling: map[digest.Digest]bool{}}
	// Fills interrupted by a crash are garbage.
	if err := os.RemoveAll(c.tmp); err != nil {
		return nil, err
	}
	for _, d := range []string{c.dir, c.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	type found struct {
		e     cacheEntry
		mtime time.Time
	}
	var all []found
	err := filepath.WalkDir(c.dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		d, ok := c.digestOf(p)
		info, ierr := de.Info()
		if !ok || ierr != nil || !info.Mode().IsRegular() {
			return nil
		}
		all = append(all, found{cacheEntry{d: d, size: info.Size(), touched: info.ModTime()}, info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mtime.Before(all[j].mtime) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range all {
		e := f.e
		c.items[e.d] = c.lru.PushFront(&e)
		c.used += e.size
	}
	c.evictLocked(nil)
	return c, nil
}

// digestOf reads a digest back from a cache file's path.
func (c *cache) digestOf(p string) (digest.Digest, bool) {
	rel, err := filepath.Rel(c.dir, p)
	if err != nil {
		return "", false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) != 3 {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
	if d.Validate() != nil || parts[1] != parts[2][:2] {
		return "", false
	}
	return d, true
}

func (c *cache) path(d digest.Digest) string {
	enc := d.Encoded()
	return filepath.Join(c.dir, string(d.Algorithm()), enc[:2], enc)
}

// open returns the cached copy of d, or nil when there is none.
func (c *cache) open(d digest.Digest) (*os.File, error) {
	p := c.path(d)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		c.mu.Lock()
		if el := c.items[d]; el != nil { // evicted by another process
			c.used -= el.Value.(*cacheEntry).size
			c.lru.Remove(el)
			delete(c.items, d)
		}
		c.mu.Unlock()
		c.misses.Add(1)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.hits.Add(1)
	now := time.Now()
	touch := false
	c.mu.Lock()
	if el := c.items[d]; el != nil {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		if now.Sub(e.touched) > touchEvery {
			e.touched, touch = now, true
		}
	} else if info, err := f.Stat(); err == nil { // added by another process
		c.items[d] = c.lru.PushFront(&cacheEntry{d: d, size: info.Size(), touched: info.ModTime()})
		c.used += info.Size()
		c.evictLocked(c.items[d])
	}
	c.mu.Unlock()
	if touch {
		os.Chtimes(p, now, now) // best effort: only orders eviction after a restart
	}
	return f, nil
}

// fits says whether a blob of size bytes may be cached at all.
func (c *cache) fits(size int64) bool { return size <= c.limit }

// insert moves the complete, synced file src into the cache as blob d, then
// evicts the least recently used blobs beyond the limit. A blob larger than
// the whole cache is not kept (src is removed).
func (c *cache) insert(d digest.Digest, src string, size int64) error {
	if !c.fits(size) {
		return os.Remove(src)
	}
	dst := c.path(d)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		os.Remove(src)
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		os.Remove(src)
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[d]; el != nil { // replaced an identical copy
		c.used -= el.Value.(*cacheEntry).size
		c.lru.Remove(el)
	}
	el := c.lru.PushFront(&cacheEntry{d: d, size: size, touched: time.Now()})
	c.items[d] = el
	c.used += size
	c.evictLocked(el)
	return nil
}

// evictLocked removes least recently used blobs, except keep, until the
// cache is within its limit.
func (c *cache) evictLocked(keep *list.Element) {
	for c.used > c.limit {
		el := c.lru.Back()
		if el == keep {
			el = el.Prev()
		}
		if el == nil {
			return
		}
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.items, e.d)
		c.used -= e.size
		c.evictions.Add(1)
		os.Remove(c.path(e.d))
	}
}

// remove drops d from the cache.
func (c *cache) remove(d digest.Digest) error {
	c.mu.Lock()
	if el := c.items[d]; el != nil {
		c.used -= el.Value.(*cacheEntry).size
		c.lru.Remove(el)
		delete(c.items, d)
	}
	c.mu.Unlock()
	if err := os.Remove(c.path(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// startFill reserves the right to fill d from a read; false when another
// reader is already filling it.
func (c *cache) startFill(d digest.Digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.filling[d] {
		return false
	}
	c.filling[d] = true
	return true
}

func (c *cache) endFill(d digest.Digest) {
	c.mu.Lock()
	delete(c.filling, d)
	c.mu.Unlock()
}

// usage returns the bytes and blobs the cache holds.
func (c *cache) usage() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, c.lru.Len()
}
