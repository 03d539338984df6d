package store

import (
	"sync"
)

// manifestCache keeps answers to manifest lookups (by tag, digest or 2DFS
// semantic reference), each stamped with its repository's generation (see
// gens). An entry whose stamp is no longer the slot's value is never used.
// The cache is bounded in bytes; when full, arbitrary entries are dropped.
type manifestCache struct {
	mu       sync.RWMutex
	m        map[cacheKey]cacheEntry
	bytes    int64
	maxBytes int64
}

type cacheKey struct {
	repo int64
	ref  string
}

type cacheEntry struct {
	gen uint64
	m   *Manifest
}

// cacheMaxBytes bounds what the cache holds (manifests are at most 4 MiB).
const cacheMaxBytes = 64 << 20

func newManifestCache(maxBytes int64) *manifestCache {
	return &manifestCache{m: map[cacheKey]cacheEntry{}, maxBytes: maxBytes}
}

func (c *manifestCache) get(repo int64, ref string, gen uint64) *Manifest {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e, ok := c.m[cacheKey{repo, ref}]
	c.mu.RUnlock()
	if !ok || e.gen != gen {
		return nil
	}
	return e.m
}

func (c *manifestCache) put(repo int64, ref string, gen uint64, m *Manifest) {
	if c == nil {
		return
	}
	size := int64(len(m.Body) + len(ref) + 128)
	if size > c.maxBytes/16 {
		return
	}
	k := cacheKey{repo, ref}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.bytes -= int64(len(old.m.Body) + len(ref) + 128)
	}
	for c.bytes+size > c.maxBytes && len(c.m) > 0 {
		for dk, de := range c.m { // map order is arbitrary: random eviction
			c.bytes -= int64(len(de.m.Body) + len(dk.ref) + 128)
			delete(c.m, dk)
			break
		}
	}
	c.m[k] = cacheEntry{gen, m}
	c.bytes += size
}
