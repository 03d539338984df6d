package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// DBFile is the metadata database's file name in a store's root.
const DBFile = "dfsreg.db"

// Options configure Open.
type Options struct {
	// Root is the store directory: the metadata database lives there, and
	// the filesystem backend's blobs unless Backend is given.
	Root string
	// Backend keeps blob bytes; nil means the filesystem backend at Root.
	Backend Backend
	// ReadOnly opens an existing store without writing anything (see
	// readonly.go).
	ReadOnly bool
}

// Store is the storage core. It is safe for concurrent use, and several
// processes (serve, gc, partition) may open the same root at once: they
// coordinate through SQLite transactions.
type Store struct {
	root    string
	backend Backend
	db      *db
	gens    *gens
	cache   *manifestCache

	// touches notes blob reads for gc freshness (touch.go).
	touches touches
	// fields keeps parsed 2DFS fields.
	fields fieldCache
	// partitions makes concurrent first requests for one partition
	// compute it once.
	partitions singleflight.Group

	repoMu sync.Mutex
	repoID map[string]int64

	uploadMu sync.Mutex
	uploads  map[string]*uploadLock

	closeOnce sync.Once
	closeErr  error

	// readOnly: opened with Options.ReadOnly (readonly.go).
	readOnly bool
}

// Open opens or creates the store at opts.Root.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Root == "" {
		return nil, errors.New("store: no root directory")
	}
	if opts.ReadOnly {
		return openReadOnly(opts)
	}
	if err := os.MkdirAll(opts.Root, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	b := opts.Backend
	if b == nil {
		fsb, err := NewFS(opts.Root)
		if err != nil {
			return nil, err
		}
		b = fsb
	}
	d, err := openDB(filepath.Join(opts.Root, DBFile))
	if err != nil {
		return nil, err
	}
	var cache *manifestCache
	g, err := openGens(filepath.Join(opts.Root, GenFile))
	if err == nil {
		cache = newManifestCache(cacheMaxBytes)
	} // without shared counters a cache could serve another process's stale state: go without
	s := &Store{root: opts.Root, backend: b, db: d, gens: g, cache: cache,
		repoID: map[string]int64{}, uploads: map[string]*uploadLock{}}
	s.startToucher()
	return s, nil
}

// Close closes the metadata database. Calling it again returns the first
// call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.readOnly {
			s.closeErr = s.db.closeReadOnly()
			return
		}
		s.stopToucher() // writes the last noted reads
		s.closeErr = s.db.Close()
		if s.gens != nil {
			s.closeErr = errors.Join(s.closeErr, s.gens.close())
		}
	})
	return s.closeErr
}

// changed marks repository repo's manifests, tags or partitions as changed
// (called before and after the commit), so that no process keeps a cached
// answer about them.
func (s *Store) changed(repo int64) {
	if s.gens != nil && repo != 0 {
		s.gens.bump(repo)
	}
}

// generation returns repository repo's generation; ok is false when there is
// no cache.
func (s *Store) generation(repo int64) (gen uint64, ok bool) {
	if s.gens == nil {
		return 0, false
	}
	return s.gens.load(repo), true
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// Backend returns the blob backend.
func (s *Store) Backend() Backend { return s.backend }

// lookupRepo returns the id of repository name, or 0 when it does not exist.
func (s *Store) lookupRepo(ctx context.Context, name string) (int64, error) {
	s.repoMu.Lock()
	id, ok := s.repoID[name]
	s.repoMu.Unlock()
	if ok {
		return id, nil
	}
	err := s.db.queryRow(ctx, `SELECT id FROM repos WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s.cacheRepo(name, id)
	return id, nil
}

func (s *Store) cacheRepo(name string, id int64) {
	s.repoMu.Lock()
	s.repoID[name] = id
	s.repoMu.Unlock()
}

// ensureRepo returns the id of repository name inside a write transaction,
// creating the repository if needed. Repository rows are never deleted, so a
// cached id stays valid.
func (s *Store) ensureRepo(tx *tx, name string) (int64, error) {
	s.repoMu.Lock()
	id, ok := s.repoID[name]
	s.repoMu.Unlock()
	if ok {
		return id, nil
	}
	// Look before inserting: an upsert would rewrite the row (and a page
	// of the WAL) on every push to an existing repository.
	err := tx.QueryRow(`SELECT id FROM repos WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRow(`INSERT INTO repos (name, created) VALUES (?, ?) RETURNING id`, name, unixNow()).Scan(&id)
	}
	if err != nil {
		return 0, err
	}
	// Not cached here: the transaction may still roll back. lookupRepo
	// caches ids it reads from committed data.
	return id, nil
}

func checkName(name string) error {
	if !oci.ValidName(name) {
		return oci.Err(oci.CodeNameInvalid, "invalid repository name %q", truncate(name, 300))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
