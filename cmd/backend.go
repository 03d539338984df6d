package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/ipfs"
	"github.com/dfsreg/dfsreg/internal/store/storj"
)

// openStore opens the store at c.Root over the blob backend c chooses. Every
// command that touches a store opens it here, so serve, gc and the offline
// 2DFS commands see the same blobs.
func openStore(ctx context.Context, c *config.Config) (*store.Store, error) {
	return openStoreWith(ctx, c, nil)
}

// openStoreWith is openStore with the backend wrapped by wrap (metrics),
// when wrap is not nil.
func openStoreWith(ctx context.Context, c *config.Config, wrap func(store.Backend) store.Backend) (*store.Store, error) {
	b, err := newBackend(ctx, c)
	if err != nil {
		return nil, err
	}
	if wrap != nil {
		if b == nil {
			if b, err = store.NewFS(c.Root); err != nil {
				return nil, err
			}
		}
		b = wrap(b)
	}
	return store.Open(ctx, store.Options{Root: c.Root, Backend: b})
}

// newBackend builds the configured blob backend; nil means the filesystem
// backend in the store root.
func newBackend(ctx context.Context, c *config.Config) (store.Backend, error) {
	switch c.Storage.Backend {
	case "filesystem":
		return nil, nil
	case "storj":
		sj := c.Storage.Storj
		log := newLogger(os.Stderr, c)
		return storj.New(ctx, storj.Config{
			Bucket:          sj.Bucket,
			AccessGrant:     sj.AccessGrant,
			AccessGrantFile: sj.AccessGrantFile,
			PartSize:        int64(sj.PartSize),
			SpoolDir:        filepath.Join(c.Root, "storj-spool"),
			OnRetry: func(err error) {
				log.Warn("storj: retrying after a transient error", "err", err)
			},
		})
	case "ipfs":
		ic := c.Storage.IPFS
		dir := ic.CacheDir
		if dir == "" {
			dir = filepath.Join(c.Root, "ipfs-cache")
		}
		return ipfs.New(ctx, ipfs.Options{API: ic.API, CacheDir: dir, CacheSize: int64(ic.CacheSize)})
	}
	return nil, fmt.Errorf("storage.backend %q is not available in this build", c.Storage.Backend)
}
