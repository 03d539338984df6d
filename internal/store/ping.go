package store

import (
	"context"
	"fmt"
	"os"
)

// Pinger is implemented by a Backend that can tell cheaply whether it is
// reachable (readiness probes).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Ping checks that the metadata database answers a query and, when the
// backend is a Pinger, that the backend is reachable.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.queryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("metadata database: %w", err)
	}
	if p, ok := s.backend.(Pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("blob backend: %w", err)
		}
	}
	return nil
}

// Ping checks that the backend's directory is there.
func (f *FS) Ping(context.Context) error {
	fi, err := os.Stat(f.root)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", f.root)
	}
	return nil
}
