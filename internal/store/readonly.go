package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// A read-only Store (Options.ReadOnly) is for commands that only look,
// such as dfsreg inspect: it opens an existing store and writes nothing.
// No directory, database or generation file is created, the schema is
// checked rather than migrated, reads are not noted for gc, and every write
// fails with ErrReadOnly. It may run beside a serve that writes the store.

// ErrReadOnly is returned by writes to a store opened with Options.ReadOnly.
var ErrReadOnly = errors.New("store is opened read-only")

// ErrNoStore is returned by a read-only Open of a directory that holds no
// store.
var ErrNoStore = errors.New("no dfsreg store")

func openReadOnly(opts Options) (*Store, error) {
	path := filepath.Join(opts.Root, DBFile)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w at %s (no %s)", ErrNoStore, opts.Root, DBFile)
	}
	var b Backend = &FS{root: opts.Root} // reads only: the fan-out is not made
	if opts.Backend != nil {
		b = opts.Backend
	}
	d, err := openDBReadOnly(path)
	if err != nil {
		return nil, err
	}
	// No shared generation counters (the file would be created): without
	// them there is no manifest cache, which a one-shot reader does not need.
	return &Store{root: opts.Root, backend: readOnlyBackend{b}, db: d, readOnly: true,
		repoID: map[string]int64{}, uploads: map[string]*uploadLock{}}, nil
}

// openDBReadOnly opens the metadata database with a reader pool only, and
// checks that its schema is the one this dfsreg writes.
func openDBReadOnly(path string) (*db, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	mode := "&mode=ro"
	if _, err := os.Lstat(path + "-wal"); errors.Is(err, fs.ErrNotExist) {
		// No process has the database open (the last one to close removes
		// the write-ahead log): read the file as immutable, which creates
		// no -wal and -shm files (mode=ro would, and could not remove
		// them). A writer that opens the store while inspect reads cannot
		// corrupt anything, but inspect could then fail or read a stale
		// state: run it again.
		mode = "&immutable=1"
	}
	r, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+q.Encode()+mode)
	if err != nil {
		return nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	var have int
	if err := r.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		r.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	switch {
	case have > len(migrations):
		r.Close()
		return nil, fmt.Errorf("metadata %s: schema version %d is newer than this dfsreg knows (%d): upgrade dfsreg", path, have, len(migrations))
	case have < len(migrations):
		r.Close()
		return nil, fmt.Errorf("metadata %s: schema version %d is older than this dfsreg's (%d): a read-only open does not migrate; run dfsreg serve or gc on it once", path, have, len(migrations))
	}
	d := &db{path: path, read: r, readOnly: true, closed: make(chan struct{})}
	d.rstmts.db = r
	return d, nil
}

// ReadOnly reports whether the store was opened with Options.ReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

func (d *db) closeReadOnly() error {
	d.rstmts.close()
	return d.read.Close()
}

// readOnlyBackend refuses writes and deletes, so that nothing the store
// calls by mistake touches the blobs.
type readOnlyBackend struct{ Backend }

func (readOnlyBackend) Stage(context.Context, string, int64) (Staged, error) { return nil, ErrReadOnly }

func (readOnlyBackend) Delete(context.Context, digest.Digest) error { return ErrReadOnly }

// OpenLocated reads a located blob through the backend's own OpenLocated,
// or by digest when it has none.
func (b readOnlyBackend) OpenLocated(ctx context.Context, d digest.Digest, locator string, offset, length int64) (io.ReadCloser, error) {
	if lb, ok := b.Backend.(LocatingBackend); ok {
		return lb.OpenLocated(ctx, d, locator, offset, length)
	}
	return b.Backend.Open(ctx, d, offset, length)
}

func (readOnlyBackend) DeleteLocated(context.Context, digest.Digest, string) error {
	return ErrReadOnly
}
