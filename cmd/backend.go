package cmd

import (
	"context"
	"fmt"

	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/store"
)

// openStore opens the store at c.Root over the blob backend c chooses. Every
// command that touches a store opens it here, so serve, gc and the offline
// 2DFS commands see the same blobs.
func openStore(ctx context.Context, c *config.Config) (*store.Store, error) {
	b, err := newBackend(ctx, c)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, store.Options{Root: c.Root, Backend: b})
}

// newBackend builds the configured blob backend; nil means the filesystem
// backend in the store root.
func newBackend(ctx context.Context, c *config.Config) (store.Backend, error) {
	switch c.Storage.Backend {
	case "filesystem":
		return nil, nil
	}
	return nil, fmt.Errorf("storage.backend %q is not available in this build", c.Storage.Backend)
}
