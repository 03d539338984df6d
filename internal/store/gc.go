package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// Garbage collection: the storage mechanics of `dfsreg gc`. The policy (what
// the roots are, the grace period, the order of the phases) is in
// internal/gc; these primitives each run in SQLite transactions of their
// own, beside serve writing to the same store, and can be interrupted
// anywhere (kill -9 included).
//
// The phases and why they are safe:
//
//  1. SweepManifests marks and deletes a repository's unreachable manifests
//     in one write transaction (a recursive CTE over tags, refs and
//     subjects), with the refs rows of the deleted manifests and the
//     partitions rows of deleted results. A manifest PUT is a write
//     transaction too: it commits before (then the mark sees it and its
//     edges) or after (then its reference check sees what was deleted and
//     fails with MANIFEST_BLOB_UNKNOWN: no 201 is ever given for a manifest
//     whose references are gone).
//
//  2. SweepLinks deletes, in batches, a repository's blob links (repo_blobs)
//     untouched since the cutoff that no refs row of the repository names,
//     whatever the state of the manifest the refs row belongs to: a manifest
//     PUT that committed after the mark is respected. Uploads and mounts
//     refresh repo_blobs.touched in their own transactions.
//
//     Blob HEADs and GETs refresh repo_blobs.touched too, batched off the
//     request path (touch.go): within touchInterval of a client checking
//     a blob, gc counts it as fresh. Inside that short window, the worst
//     case stays clean: a manifest PUT naming a link gc just removed fails
//     with MANIFEST_BLOB_UNKNOWN (its reference check runs in the same
//     transaction as the insert), so nothing acknowledged is ever lost.
//
//  3. RetireBlobs removes blobs rows that no repository links and that were
//     not touched since the cutoff, recording each in gc_pending, in one
//     transaction per batch. DeletePending then deletes their bytes from the
//     backend inside a write transaction, so while holding SQLite's write
//     lock: for each pending digest it checks, in that transaction, that no
//     blobs row exists again (an upload may have re-linked it meanwhile)
//     before deleting, deletes the pending rows of what it deleted and bumps
//     gc_state.epoch. Hence the invariant every committed state keeps:
//
//     (I) a blobs row's bytes are in the backend.
//
//     Bytes are only deleted by DeletePending, for a digest without a blobs
//     row, while no other transaction can insert one; and a writer that
//     inserts a blobs row where none exists checks the bytes in its linking
//     transaction (verifyCommitted) whenever a gc may have deleted them
//     since it committed them to the backend: when the digest is pending, or
//     the epoch moved since before its Commit. FinishUpload does so
//     (savePartition, which links the configs it generates, needs the same
//     call). A gc
//     killed in DeletePending leaves its pending rows (the transaction rolls
//     back; the blobs rows were already gone), so uploads still check, and
//     the next DeletePending finishes the job (deleting absent bytes is not
//     an error).
//
//  4. Upload sessions idle past their expiry: ExpireUploads.
//
// Each phase looks with a read first and takes no write transaction when it
// has nothing to delete, so a collection of a clean store does not write.

// Batch sizes: each batch is one write transaction, so they bound how long
// gc holds SQLite's write lock (serve's writers wait for it).
const (
	gcLinkBatch   = 1000
	gcRetireBatch = 1000
	gcDeleteBatch = 1000
	// gcDeleteWorkers backend deletions run at once in DeletePending.
	gcDeleteWorkers = 8
	// gcDeleteBudget: a DeletePending batch starts no new deletion after
	// this long, so that a slow backend (Storj) cannot hold the write lock
	// near serve's busy timeout.
	gcDeleteBudget = 2 * time.Second
)

// GCRepo is a repository as gc addresses it.
type GCRepo struct {
	ID   int64
	Name string
}

// GCRepos returns the repositories named (all of them when names is
// empty), in name order. A name that is not a repository is an error.
func (s *Store) GCRepos(ctx context.Context, names []string) ([]GCRepo, error) {
	var out []GCRepo
	if len(names) == 0 {
		rows, err := s.db.query(ctx, `SELECT id, name FROM repos ORDER BY name`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var r GCRepo
			if err := rows.Scan(&r.ID, &r.Name); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if err := checkName(n); err != nil {
			return nil, err
		}
		id, err := s.lookupRepo(ctx, n)
		if err != nil {
			return nil, err
		}
		if id == 0 {
			return nil, oci.Err(oci.CodeNameUnknown, "repository %q is not known", n)
		}
		out = append(out, GCRepo{ID: id, Name: n})
	}
	return out, nil
}

// GCMark chooses the roots of a repository's mark besides its tags.
type GCMark struct {
	// Fresh: manifests created at or after it are kept, reachable or not
	// (the grace period), except derived partitions: those live exactly as
	// long as their source.
	Fresh time.Time
	// Untagged: untagged manifests are roots only when created at or after
	// Retain. Without it every manifest is a root except referrers (those
	// live while their subject lives) and derived partitions (those live
	// while their source lives).
	Untagged bool
	Retain   time.Time
}

// Doomed is a manifest or blob that gc deletes (or would delete).
type Doomed struct {
	Digest digest.Digest
	Size   int64
}

// ManifestSweep is what SweepManifests deleted (or would delete).
type ManifestSweep struct {
	Manifests []Doomed
	// Partitions: partitions rows dropped (their result is gone).
	Partitions int
	// Edges: refs rows dropped with their manifest (or whose manifest was
	// already gone).
	Edges int
}

// markQuery lists the manifests of repository ?1 that the mark does not
// reach. ?2: created at or after it is fresh (kept). ?3: untagged
// manifests created at or after it are roots (math.MinInt64: all).
//
// Edges followed: index -> child (refs kind 2), source -> derived
// partition (kind 4), subject -> referrer (manifests.subject). Referrers are
// not roots by age (only by the grace period): they live with their
// subject. Derived manifests (partition results and the children generated
// for them) are never roots, not even young: they live and die with their
// source, whose edges are what hold their base layers and allotments
// (savePartition records only the configs it generates). A child of a
// partition result that some other index also lists (a child the partition
// kept unchanged) is not derived.
const markQuery = `
WITH RECURSIVE
derived(d) AS (
	SELECT result FROM partitions WHERE repo = ?1
),
generated(d) AS (
	SELECT d FROM derived
	UNION
	SELECT r.child FROM derived p CROSS JOIN refs r ON r.repo = ?1 AND r.parent = p.d AND r.kind = 2
	WHERE NOT EXISTS (SELECT 1 FROM refs o WHERE o.repo = ?1 AND o.child = r.child AND o.kind = 2 AND o.parent NOT IN derived)
),
live(d) AS (
	SELECT digest FROM tags WHERE repo = ?1
	UNION
	SELECT digest FROM manifests WHERE repo = ?1 AND digest NOT IN generated
		AND (created >= ?2 OR (subject IS NULL AND created >= ?3))
	UNION
	SELECT r.child FROM live CROSS JOIN refs r ON r.repo = ?1 AND r.parent = live.d AND r.kind IN (2, 4)
	UNION
	SELECT m.digest FROM live CROSS JOIN manifests m ON m.repo = ?1 AND m.subject = live.d
)
SELECT digest, size FROM manifests WHERE repo = ?1 AND digest NOT IN live ORDER BY digest`

func (m GCMark) args(repo int64) []any {
	retain := int64(math.MinInt64)
	if m.Untagged {
		retain = m.Retain.UnixMilli()
	}
	return []any{repo, m.Fresh.UnixMilli(), retain}
}

type queryer interface {
	Query(query string, args ...any) (*sql.Rows, error)
}

type readQueryer struct {
	ctx context.Context
	d   *db
}

func (r readQueryer) Query(query string, args ...any) (*sql.Rows, error) {
	return r.d.query(r.ctx, query, args...)
}

func scanDoomed(q queryer, query string, args ...any) ([]Doomed, error) {
	rows, err := q.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Doomed
	for rows.Next() {
		var d string
		var size int64
		if err := rows.Scan(&d, &size); err != nil {
			return nil, err
		}
		out = append(out, Doomed{Digest: digest.Digest(d), Size: size})
	}
	return out, rows.Err()
}

func digestsJSON(ds []Doomed) string {
	list := make([]string, len(ds))
	for i, d := range ds {
		list[i] = d.Digest.String()
	}
	b, _ := json.Marshal(list)
	return string(b)
}

// SweepManifests deletes repository r's manifests that mark m does not
// reach, in one write transaction, with their refs rows and the partitions
// rows whose result is gone. (A partitions row whose source is gone stays
// while its result does: it is what marks the result as derived, hence
// collected once the grace period is over, rather than a root.) With dryRun it only reports what it
// would delete.
func (s *Store) SweepManifests(ctx context.Context, r GCRepo, m GCMark, dryRun bool) (*ManifestSweep, error) {
	if !dryRun {
		// Look first, without the write lock: most repositories have
		// nothing to collect, and deleting nothing needs no transaction.
		res, err := s.SweepManifests(ctx, r, m, true)
		if err != nil || (len(res.Manifests) == 0 && res.Partitions == 0 && res.Edges == 0) {
			return res, err
		}
	} else {
		doomed, err := scanDoomed(readQueryer{ctx, s.db}, markQuery, m.args(r.ID)...)
		if err != nil {
			return nil, fmt.Errorf("marking %s: %w", r.Name, err)
		}
		res := &ManifestSweep{Manifests: doomed}
		// What stays: the manifests but the doomed ones. (Lists rather than
		// correlated lookups: they read the manifests_gc index once, not
		// the rows and their bodies once per edge.)
		err = s.db.queryRow(ctx, `
WITH kept(d) AS (SELECT digest FROM manifests WHERE repo = ?1 AND digest NOT IN (SELECT value FROM json_each(?2)))
SELECT
	(SELECT COUNT(*) FROM partitions p WHERE p.repo = ?1 AND p.result NOT IN kept),
	(SELECT COUNT(*) FROM refs f WHERE f.repo = ?1 AND f.parent NOT IN kept)`,
			r.ID, digestsJSON(doomed)).Scan(&res.Partitions, &res.Edges)
		if err != nil {
			return nil, fmt.Errorf("marking %s: %w", r.Name, err)
		}
		return res, nil
	}
	var res *ManifestSweep
	// Cached answers about this repository (manifests, tags, partitions)
	// may change: invalidate them in every process, before and after.
	s.changed(r.ID)
	defer s.changed(r.ID)
	err := s.db.update(ctx, func(tx *tx) error {
		res = &ManifestSweep{}
		doomed, err := scanDoomed(tx, markQuery, m.args(r.ID)...)
		if err != nil {
			return err
		}
		res.Manifests = doomed
		for _, d := range doomed {
			if _, err := tx.Exec(`DELETE FROM manifests WHERE repo = ? AND digest = ?`, r.ID, d.Digest.String()); err != nil {
				return err
			}
		}
		n, err := execCount(tx, `DELETE FROM refs WHERE repo = ?1 AND parent NOT IN (SELECT digest FROM manifests WHERE repo = ?1)`, r.ID)
		if err != nil {
			return err
		}
		res.Edges = n
		n, err = execCount(tx, `DELETE FROM partitions WHERE repo = ?1 AND result NOT IN (SELECT digest FROM manifests WHERE repo = ?1)`, r.ID)
		res.Partitions = n
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sweeping manifests of %s: %w", r.Name, err)
	}
	return res, nil
}

func execCount(tx *tx, query string, args ...any) (int, error) {
	res, err := tx.Exec(query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// linkQuery lists, after digest ?2, up to ?4 links of repository ?1
// untouched since ?3 that no refs row of the repository names.
const linkQuery = `
SELECT rb.digest, COALESCE(b.size, 0) FROM repo_blobs rb LEFT JOIN blobs b ON b.digest = rb.digest
WHERE rb.repo = ?1 AND rb.digest > ?2 AND rb.touched < ?3
	AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.repo = ?1 AND r.child = rb.digest)
ORDER BY rb.digest LIMIT ?4`

// linkDryQuery is linkQuery as it will be once the manifests in ?2 (a JSON
// array of digests) and refs rows of absent manifests are gone.
const linkDryQuery = `
WITH kept(d) AS (SELECT digest FROM manifests WHERE repo = ?1 AND digest NOT IN (SELECT value FROM json_each(?2)))
SELECT rb.digest, COALESCE(b.size, 0) FROM repo_blobs rb LEFT JOIN blobs b ON b.digest = rb.digest
WHERE rb.repo = ?1 AND rb.touched < ?3
	AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.repo = ?1 AND r.child = rb.digest AND r.parent IN kept)
ORDER BY rb.digest`

// SweepLinks deletes repository r's blob links that were not touched since
// cutoff and that no refs row of r names, in transactions of a batch each.
// Sizes are the blobs'. With dryRun it reports the links it would delete
// once the manifests in doomed (from SweepManifests) are gone.
func (s *Store) SweepLinks(ctx context.Context, r GCRepo, cutoff time.Time, doomed []Doomed, dryRun bool) ([]Doomed, error) {
	if dryRun {
		out, err := scanDoomed(readQueryer{ctx, s.db}, linkDryQuery, r.ID, digestsJSON(doomed), cutoff.UnixMilli())
		if err != nil {
			return nil, fmt.Errorf("blob links of %s: %w", r.Name, err)
		}
		return out, nil
	}
	var out []Doomed
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		// Nothing left (as last committed)? Then no write transaction.
		if more, err := scanDoomed(readQueryer{ctx, s.db}, linkQuery, r.ID, last, cutoff.UnixMilli(), 1); err != nil || len(more) == 0 {
			return out, err
		}
		var batch []Doomed
		err := s.db.update(ctx, func(tx *tx) error {
			var err error
			batch, err = scanDoomed(tx, linkQuery, r.ID, last, cutoff.UnixMilli(), gcLinkBatch)
			if err != nil {
				return err
			}
			for _, d := range batch {
				if _, err := tx.Exec(`DELETE FROM repo_blobs WHERE repo = ? AND digest = ?`, r.ID, d.Digest.String()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("blob links of %s: %w", r.Name, err)
		}
		out = append(out, batch...)
		if len(batch) < gcLinkBatch {
			return out, nil
		}
		last = batch[len(batch)-1].Digest.String()
	}
}

// RetireBlobs removes the blobs rows that no repository links and that
// were not touched since cutoff, and records them in gc_pending for
// DeletePending, in transactions of a batch each. only != nil limits it to
// those digests; else every blob is considered.
func (s *Store) RetireBlobs(ctx context.Context, cutoff time.Time, only []digest.Digest) ([]Doomed, error) {
	var out []Doomed
	retire := func(tx *tx, digests []string) error {
		now := unixNow()
		for _, d := range digests {
			var size int64
			var locator sql.NullString
			err := tx.QueryRow(`DELETE FROM blobs WHERE digest = ?1 AND touched < ?2 AND NOT EXISTS (SELECT 1 FROM repo_blobs r WHERE r.digest = ?1) RETURNING size, locator`,
				d, cutoff.UnixMilli()).Scan(&size, &locator)
			if errors.Is(err, sql.ErrNoRows) {
				continue // linked again, or touched since
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO gc_pending (digest, size, locator, created) VALUES (?, ?, ?, ?)
ON CONFLICT DO UPDATE SET size = excluded.size, locator = excluded.locator, created = excluded.created`, d, size, locator, now); err != nil {
				return err
			}
			out = append(out, Doomed{Digest: digest.Digest(d), Size: size})
		}
		return nil
	}
	if only != nil {
		for len(only) > 0 {
			n := min(len(only), gcRetireBatch)
			chunk := make([]string, n)
			for i, d := range only[:n] {
				chunk[i] = d.String()
			}
			only = only[n:]
			mark := len(out)
			if err := s.db.update(ctx, func(tx *tx) error { out = out[:mark]; return retire(tx, chunk) }); err != nil {
				return out[:mark], fmt.Errorf("retiring blobs: %w", err)
			}
		}
		return out, nil
	}
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var n int
		if err := s.db.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blobs b WHERE b.digest > ? AND b.touched < ?
	AND NOT EXISTS (SELECT 1 FROM repo_blobs r WHERE r.digest = b.digest))`, last, cutoff.UnixMilli()).Scan(&n); err != nil || n == 0 {
			return out, err
		}
		mark, scanned := len(out), 0
		err := s.db.update(ctx, func(tx *tx) error {
			out = out[:mark]
			rows, err := tx.Query(`SELECT b.digest FROM blobs b WHERE b.digest > ? AND b.touched < ?
	AND NOT EXISTS (SELECT 1 FROM repo_blobs r WHERE r.digest = b.digest) ORDER BY b.digest LIMIT ?`, last, cutoff.UnixMilli(), gcRetireBatch)
			if err != nil {
				return err
			}
			var list []string
			for rows.Next() {
				var d string
				if err := rows.Scan(&d); err != nil {
					rows.Close()
					return err
				}
				list = append(list, d)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			scanned = len(list)
			if scanned > 0 {
				last = list[scanned-1]
			}
			return retire(tx, list)
		})
		if err != nil {
			return out[:mark], fmt.Errorf("retiring blobs: %w", err)
		}
		if scanned < gcRetireBatch {
			return out, nil
		}
	}
}

// WouldRetire is RetireBlobs for a dry run: the blobs whose links would
// all be gone once the links in unlinked (digest -> repository ids) are,
// untouched since cutoff; with orphans, also the blobs no repository links
// already.
func (s *Store) WouldRetire(ctx context.Context, cutoff time.Time, unlinked map[digest.Digest]map[int64]bool, orphans bool) ([]Doomed, error) {
	var out []Doomed
	for d, repos := range unlinked {
		rows, err := s.db.query(ctx, `SELECT r.repo, b.size, b.touched FROM blobs b LEFT JOIN repo_blobs r ON r.digest = b.digest WHERE b.digest = ?`, d.String())
		if err != nil {
			return nil, err
		}
		ok, size, found := true, int64(0), false
		for rows.Next() {
			var repo sql.NullInt64
			var touched int64
			if err := rows.Scan(&repo, &size, &touched); err != nil {
				rows.Close()
				return nil, err
			}
			found = true
			if touched >= cutoff.UnixMilli() || (repo.Valid && !repos[repo.Int64]) {
				ok = false
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if ok && found {
			out = append(out, Doomed{Digest: d, Size: size})
		}
	}
	if orphans {
		more, err := scanDoomed(readQueryer{ctx, s.db}, `SELECT b.digest, b.size FROM blobs b WHERE b.touched < ?
	AND NOT EXISTS (SELECT 1 FROM repo_blobs r WHERE r.digest = b.digest) ORDER BY b.digest`, cutoff.UnixMilli())
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// PendingBlobs lists the byte deletions recorded in gc_pending.
func (s *Store) PendingBlobs(ctx context.Context) ([]Doomed, error) {
	return scanDoomed(readQueryer{ctx, s.db}, `SELECT digest, size FROM gc_pending ORDER BY digest`)
}

// PendingSweep is what DeletePending did.
type PendingSweep struct {
	// Deleted: bytes deleted from the backend.
	Deleted []Doomed
	// Relinked: pending digests that were uploaded again since they were
	// retired: their bytes are in use and stay.
	Relinked []digest.Digest
	// Failed: deletions the backend refused; they stay pending for the
	// next run.
	Failed []FailedDelete
}

// FailedDelete is a backend deletion that failed.
type FailedDelete struct {
	Digest digest.Digest
	Err    error
}

type pendingRow struct {
	digest   string
	size     int64
	locator  string
	relinked bool
}

// DeletePending deletes from the backend the bytes of the blobs in
// gc_pending, a batch per write transaction: the deletions run while the
// transaction holds SQLite's write lock, so no upload can link a digest
// between the check that it is still unlinked and the deletion of its
// bytes (see the invariant at the top of this file).
func (s *Store) DeletePending(ctx context.Context) (*PendingSweep, error) {
	res := &PendingSweep{}
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var n int
		if err := s.db.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM gc_pending WHERE digest > ?)`, last).Scan(&n); err != nil || n == 0 {
			return res, err
		}
		var (
			deleted  []Doomed
			relinked []digest.Digest
			failed   []FailedDelete
			more     bool
			next     string
		)
		err := s.db.update(ctx, func(tx *tx) error {
			deleted, relinked, failed, more, next = nil, nil, nil, false, last
			rows, err := tx.Query(`SELECT p.digest, p.size, COALESCE(p.locator, ''), EXISTS (SELECT 1 FROM blobs b WHERE b.digest = p.digest)
FROM gc_pending p WHERE p.digest > ? ORDER BY p.digest LIMIT ?`, last, gcDeleteBatch)
			if err != nil {
				return err
			}
			var list []pendingRow
			for rows.Next() {
				var p pendingRow
				if err := rows.Scan(&p.digest, &p.size, &p.locator, &p.relinked); err != nil {
					rows.Close()
					return err
				}
				list = append(list, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(list) == 0 {
				return nil
			}
			more = len(list) == gcDeleteBatch
			if _, err := tx.Exec(`UPDATE gc_state SET epoch = epoch + 1`); err != nil {
				return err
			}
			var gone []pendingRow
			for _, p := range list {
				if p.relinked {
					relinked = append(relinked, digest.Digest(p.digest))
					gone = append(gone, p)
				}
			}
			errs, attempted := s.deleteBytes(ctx, list)
			if attempted < len(list) {
				more = true
			}
			if attempted > 0 {
				next = list[attempted-1].digest
			}
			for i, p := range list[:attempted] {
				switch {
				case p.relinked:
				case errs[i] != nil:
					failed = append(failed, FailedDelete{Digest: digest.Digest(p.digest), Err: errs[i]})
				default:
					deleted = append(deleted, Doomed{Digest: digest.Digest(p.digest), Size: p.size})
					gone = append(gone, p)
				}
			}
			for _, p := range gone {
				if _, err := tx.Exec(`DELETE FROM gc_pending WHERE digest = ?`, p.digest); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("deleting blob bytes: %w", err)
		}
		res.Deleted = append(res.Deleted, deleted...)
		res.Relinked = append(res.Relinked, relinked...)
		res.Failed = append(res.Failed, failed...)
		if !more {
			return res, nil
		}
		last = next
	}
}

// deleteBytes deletes the bytes of the rows of list not relinked, a few at
// a time, starting none after gcDeleteBudget; it returns each row's error
// and how many rows (a prefix of list) it went through.
func (s *Store) deleteBytes(ctx context.Context, list []pendingRow) ([]error, int) {
	errs := make([]error, len(list))
	sem := make(chan struct{}, gcDeleteWorkers)
	var wg sync.WaitGroup
	start := time.Now()
	n := 0
	for i, p := range list {
		if i > 0 && time.Since(start) > gcDeleteBudget {
			break
		}
		n = i + 1
		if p.relinked {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = s.deleteBlobBytes(ctx, digest.Digest(p.digest), p.locator)
		}()
	}
	wg.Wait()
	return errs, n
}

func (s *Store) deleteBlobBytes(ctx context.Context, d digest.Digest, locator string) error {
	if lb, ok := s.backend.(LocatingBackend); ok && locator != "" {
		return lb.DeleteLocated(ctx, d, locator)
	}
	return s.backend.Delete(ctx, d)
}

// gcEpoch reads gc_state.epoch. FinishUpload reads it before committing
// staged bytes, and verifyCommitted compares.
func (s *Store) gcEpoch(ctx context.Context) (int64, error) {
	var e int64
	err := s.db.queryRow(ctx, `SELECT epoch FROM gc_state WHERE id = 1`).Scan(&e)
	return e, err
}

// verifyCommitted runs in the transaction that links blob d after its
// bytes were committed to the backend (Commit, which may have found them
// there already and kept those). epoch is gcEpoch from before the Commit.
// The bytes are certainly there when a blobs row exists (invariant I), or
// when no gc deleted bytes since (the epoch did not move) and none is about
// to finish doing so (d is not pending). Otherwise the backend is asked,
// while this transaction holds the write lock so that no gc can delete them
// until the link is committed.
func (s *Store) verifyCommitted(ctx context.Context, tx *tx, d digest.Digest, epoch int64) error {
	var row, pending int
	var now int64
	err := tx.QueryRow(`SELECT (SELECT COUNT(*) FROM blobs WHERE digest = ?1), (SELECT COUNT(*) FROM gc_pending WHERE digest = ?1), (SELECT epoch FROM gc_state WHERE id = 1)`,
		d.String()).Scan(&row, &pending, &now)
	if err != nil {
		return err
	}
	if row > 0 || (pending == 0 && now == epoch) {
		return nil
	}
	if _, err := s.backend.Stat(ctx, d); err != nil {
		if errors.Is(err, ErrNotFound) {
			return errCollected(d)
		}
		return fmt.Errorf("checking blob %s: %w", d, err)
	}
	return nil
}

func errCollected(d digest.Digest) error {
	return oci.Err(oci.CodeBlobUploadInvalid, "blob %s was garbage-collected while this upload was being committed; upload it again", d).
		WithDetail(map[string]string{"digest": d.String()})
}

// IdleUploads counts the upload sessions idle for longer than idle (what
// ExpireUploads would end).
func (s *Store) IdleUploads(ctx context.Context, idle time.Duration) (int, error) {
	var n int
	err := s.db.queryRow(ctx, `SELECT COUNT(*) FROM uploads WHERE updated < ?`, time.Now().Add(-idle).UnixMilli()).Scan(&n)
	return n, err
}

// CheckIntegrity lists what is wrong with the store (an empty list: nothing):
// blobs rows whose bytes the backend does not hold or holds at another size,
// byte deletions left pending, tags naming absent manifests, and
// references of manifests reachable from tags (child manifests, blobs and
// 2DFS allotments) that are not in their repository. It reads every blob's
// metadata and asks the backend about each: meant for tests and repairs,
// not for a hot path.
func (s *Store) CheckIntegrity(ctx context.Context) ([]string, error) {
	var problems []string
	rows, err := s.db.query(ctx, `SELECT digest, size FROM blobs ORDER BY digest`)
	if err != nil {
		return nil, err
	}
	var blobs []Doomed
	for rows.Next() {
		var d string
		var size int64
		if err := rows.Scan(&d, &size); err != nil {
			rows.Close()
			return nil, err
		}
		blobs = append(blobs, Doomed{digest.Digest(d), size})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, b := range blobs {
		size, err := s.backend.Stat(ctx, b.Digest)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("blob %s: recorded, but the backend says: %v", b.Digest, err))
		case size != b.Size:
			problems = append(problems, fmt.Sprintf("blob %s: recorded with %d bytes, the backend has %d", b.Digest, b.Size, size))
		}
	}
	var pending int
	if err := s.db.queryRow(ctx, `SELECT COUNT(*) FROM gc_pending`).Scan(&pending); err != nil {
		return nil, err
	}
	if pending > 0 {
		problems = append(problems, fmt.Sprintf("%d blob byte deletions are pending (an interrupted gc: the next run finishes them)", pending))
	}
	for _, q := range []struct{ what, query string }{
		{"tag names an absent manifest", `SELECT p.name || ':' || t.name || ' -> ' || t.digest FROM tags t JOIN repos p ON p.id = t.repo
WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = t.repo AND m.digest = t.digest)`},
		{"reference of a tagged image is missing", `
WITH RECURSIVE live(repo, d) AS (
	SELECT repo, digest FROM tags
	UNION
	SELECT r.repo, r.child FROM live JOIN refs r ON r.repo = live.repo AND r.parent = live.d AND r.kind = 2
)
SELECT p.name || ': ' || r.parent || ' -> ' || r.child || ' (kind ' || r.kind || ')'
FROM live JOIN refs r ON r.repo = live.repo AND r.parent = live.d JOIN repos p ON p.id = r.repo
WHERE (r.kind = 2 AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = r.repo AND m.digest = r.child))
	OR (r.kind IN (1, 3) AND NOT EXISTS (SELECT 1 FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repo = r.repo AND rb.digest = r.child))`},
	} {
		rows, err := s.db.query(ctx, q.query)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, err
			}
			problems = append(problems, q.what+": "+v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return problems, nil
}
