package store

import (
	"database/sql"
	"fmt"
)

// migrations are applied in order, each once, each in its own transaction;
// the applied version is in schema_migrations. Append, never edit.
var migrations = []string{
	// 1: the registry's metadata.
	`
CREATE TABLE repos (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	created INTEGER NOT NULL
);
-- blobs whose bytes the backend holds (committed uploads).
CREATE TABLE blobs (
	digest  TEXT PRIMARY KEY,
	size    INTEGER NOT NULL,
	created INTEGER NOT NULL,
	touched INTEGER NOT NULL
) WITHOUT ROWID;
-- which repository may read which blob (pushed or mounted there).
CREATE TABLE repo_blobs (
	repo    INTEGER NOT NULL REFERENCES repos(id),
	digest  TEXT NOT NULL REFERENCES blobs(digest),
	touched INTEGER NOT NULL,
	PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX repo_blobs_digest ON repo_blobs(digest);
CREATE TABLE manifests (
	repo          INTEGER NOT NULL REFERENCES repos(id),
	digest        TEXT NOT NULL,
	media_type    TEXT NOT NULL,
	artifact_type TEXT NOT NULL DEFAULT '',
	subject       TEXT,
	annotations   TEXT,
	size          INTEGER NOT NULL,
	body          BLOB NOT NULL,
	created       INTEGER NOT NULL,
	PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX manifests_subject ON manifests(repo, subject) WHERE subject IS NOT NULL;
CREATE TABLE tags (
	repo    INTEGER NOT NULL REFERENCES repos(id),
	name    TEXT NOT NULL,
	digest  TEXT NOT NULL,
	updated INTEGER NOT NULL,
	PRIMARY KEY (repo, name)
) WITHOUT ROWID;
CREATE INDEX tags_digest ON tags(repo, digest);
-- edges from a manifest to what it needs: kind 1 = blob (config, layer),
-- 2 = child manifest, 3 = 2DFS allotment (referenced only by the field),
-- 4 = derived manifest (a partition generated from this one).
CREATE TABLE refs (
	repo   INTEGER NOT NULL REFERENCES repos(id),
	parent TEXT NOT NULL,
	kind   INTEGER NOT NULL,
	child  TEXT NOT NULL,
	PRIMARY KEY (repo, parent, kind, child)
) WITHOUT ROWID;
CREATE INDEX refs_child ON refs(repo, child);
CREATE TABLE uploads (
	id         TEXT PRIMARY KEY,
	repo       INTEGER NOT NULL REFERENCES repos(id),
	offset     INTEGER NOT NULL,
	hash_state BLOB NOT NULL,
	handle     TEXT NOT NULL,
	created    INTEGER NOT NULL,
	updated    INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 2: 2DFS partitions, remembered per (source, normalized selection).
	`
CREATE TABLE partitions (
	repo      INTEGER NOT NULL REFERENCES repos(id),
	source    TEXT NOT NULL,
	selection TEXT NOT NULL,
	result    TEXT NOT NULL,
	created   INTEGER NOT NULL,
	PRIMARY KEY (repo, source, selection)
) WITHOUT ROWID;
`,
	// 3: where a backend that does not find blobs by digest alone keeps
	// them (IPFS: the CID), and whether it holds them pinned (see Location).
	`
ALTER TABLE blobs ADD COLUMN locator TEXT;
ALTER TABLE blobs ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
`,
	// 4: garbage collection (gc.go). gc_pending holds blobs whose metadata
	// gc removed and whose bytes it has not yet confirmed deleted, so that
	// a run killed halfway is finished by the next one. gc_state.epoch
	// counts the transactions in which gc deleted bytes: an upload that
	// committed its bytes while one ran re-checks them before linking.
	`
CREATE TABLE gc_pending (
	digest  TEXT PRIMARY KEY,
	size    INTEGER NOT NULL,
	locator TEXT,
	created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE gc_state (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	epoch INTEGER NOT NULL
);
INSERT INTO gc_state (id, epoch) VALUES (1, 0);
-- The mark reads every manifest's digest, subject, age and size: from this
-- index, not from the rows (whose bodies it would read too).
CREATE INDEX manifests_gc ON manifests(repo, subject, created, size);
`,
	// 5: two indexes every manifest PUT paid for and only rare operations
	// read: refs_child (gc; migration 6 restores it) and tags_digest
	// (deleting a manifest by digest now reads the repository's tags).
	// Each cost the PUT a B-tree insert and WAL pages (3.4 and 1.5 of
	// 13.5 per PUT).
	`
DROP INDEX refs_child;
DROP INDEX tags_digest;
`,
	// 6: refs_child back. Without it gc's link sweep builds the set of
	// every referenced child of the repository for each batch of 1000
	// links, inside a write transaction: 1.66 s per batch at 400,000 edges
	// against 0.13 s with the index, every push stalled meanwhile. Worth
	// more than the ~5% of manifest PUT rate the index costs.
	`
CREATE INDEX IF NOT EXISTS refs_child ON refs(repo, child);
`,
}

// Edge kinds in refs.
const (
	refBlob      = 1
	refManifest  = 2
	refAllotment = 3
	refDerived   = 4
)

func migrate(conn *sql.DB) error {
	if _, err := conn.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return err
	}
	for {
		// Each step re-reads the version inside its (immediate) transaction,
		// so two processes opening a new store at once apply each step once.
		done, err := migrateStep(conn)
		if err != nil || done {
			return err
		}
	}
}

func migrateStep(conn *sql.DB) (done bool, err error) {
	tx, err := conn.Begin()
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var have int
	if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return false, err
	}
	switch {
	case have > len(migrations):
		return false, fmt.Errorf("schema version %d is newer than this dfsreg knows (%d): upgrade dfsreg", have, len(migrations))
	case have == len(migrations):
		return true, nil
	}
	if _, err := tx.Exec(migrations[have]); err != nil {
		return false, fmt.Errorf("migration %d: %w", have+1, err)
	}
	if _, err := tx.Exec(`INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, have+1, unixNow()); err != nil {
		return false, err
	}
	return false, tx.Commit()
}
