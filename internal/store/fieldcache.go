package store

import (
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/partition"
)

// fieldCache keeps parsed 2DFS fields by digest (content-addressed, so an
// entry never goes stale), bounded by the size of the JSON they came from.
// A field is parsed when its manifest is pushed; the first partition of the
// image then starts from the parsed form.
type fieldCache struct {
	mu    sync.Mutex
	m     map[digest.Digest]cachedField
	bytes int
}

type cachedField struct {
	f    *partition.Field
	size int
}

// fieldCacheBytes bounds the JSON size of the fields kept.
const fieldCacheBytes = 32 << 20

func (c *fieldCache) get(d digest.Digest) *partition.Field {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[d].f
}

func (c *fieldCache) put(d digest.Digest, f *partition.Field, size int) {
	if size > fieldCacheBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[digest.Digest]cachedField{}
	}
	if _, ok := c.m[d]; ok {
		return
	}
	for k, v := range c.m { // arbitrary eviction until it fits
		if c.bytes+size <= fieldCacheBytes {
			break
		}
		c.bytes -= v.size
		delete(c.m, k)
	}
	c.m[d] = cachedField{f, size}
	c.bytes += size
}
