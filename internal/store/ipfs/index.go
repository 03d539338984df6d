package ipfs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/ipfs/go-cid"
	"github.com/opencontainers/go-digest"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver
)

// IndexFile is the backend's own digest -> CID index, in the cache
// directory. The store's metadata records the same mapping (the authority
// for what is visible); this index lets the backend answer by digest alone
// (Open, Stat, Delete), as the Backend contract asks.
const IndexFile = "index.db"

// index maps digests to the CID and size of blobs this backend committed
// and has not deleted. Several processes (serve, gc) may share it.
type index struct {
	db *sql.DB
}

type indexEntry struct {
	cid  cid.Cid
	size int64
}

func openIndex(dir string) (*index, error) {
	q := url.Values{}
	// FULL: an acknowledged commit's row survives power loss (one fsync
	// of the WAL per commit, next to the node's own writes).
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dir, IndexFile))+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS blobs (
	digest TEXT PRIMARY KEY,
	cid    TEXT NOT NULL,
	size   INTEGER NOT NULL
) WITHOUT ROWID`); err != nil {
		db.Close()
		return nil, fmt.Errorf("ipfs backend index %s: %w", filepath.Join(dir, IndexFile), err)
	}
	return &index{db: db}, nil
}

func (x *index) get(ctx context.Context, d digest.Digest) (indexEntry, bool, error) {
	var s string
	var e indexEntry
	err := x.db.QueryRowContext(ctx, `SELECT cid, size FROM blobs WHERE digest = ?`, d.String()).Scan(&s, &e.size)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("ipfs backend index: %w", err)
	}
	if e.cid, err = cid.Decode(s); err != nil {
		return e, false, fmt.Errorf("ipfs backend index: blob %s: bad CID %q: %w", d, s, err)
	}
	return e, true, nil
}

func (x *index) put(ctx context.Context, d digest.Digest, e indexEntry) error {
	_, err := x.db.ExecContext(ctx, `INSERT INTO blobs (digest, cid, size) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET cid = excluded.cid, size = excluded.size`,
		d.String(), e.cid.String(), e.size)
	if err != nil {
		return fmt.Errorf("ipfs backend index: %w", err)
	}
	return nil
}

func (x *index) remove(ctx context.Context, d digest.Digest) error {
	if _, err := x.db.ExecContext(ctx, `DELETE FROM blobs WHERE digest = ?`, d.String()); err != nil {
		return fmt.Errorf("ipfs backend index: %w", err)
	}
	return nil
}

func (x *index) close() error { return x.db.Close() }
