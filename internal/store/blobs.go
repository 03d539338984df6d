package store

import (
	"context"
	"database/sql"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
)

func blobUnknown(d digest.Digest) error {
	return oci.Err(oci.CodeBlobUnknown, "blob %s is not in this repository", d).WithDetail(map[string]string{"digest": d.String()})
}

// StatBlob returns the size of blob d if repository repo may read it.
func (s *Store) StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	size, _, err := s.statBlob(ctx, repo, d)
	return size, err
}

// BlobLocation returns where the backend keeps blob d of repository repo
// (IPFS: its CID and pin state); a zero Location when the backend finds
// blobs by digest alone.
func (s *Store) BlobLocation(ctx context.Context, repo string, d digest.Digest) (Location, error) {
	_, loc, err := s.statBlob(ctx, repo, d)
	return loc, err
}

func (s *Store) statBlob(ctx context.Context, repo string, d digest.Digest) (int64, Location, error) {
	if err := checkName(repo); err != nil {
		return 0, Location{}, err
	}
	id, err := s.lookupRepo(ctx, repo)
	if err != nil {
		return 0, Location{}, err
	}
	if id == 0 {
		return 0, Location{}, blobUnknown(d)
	}
	var size int64
	var loc Location
	var locator sql.NullString
	err = s.db.queryRow(ctx, `SELECT b.size, b.locator, b.pinned FROM repo_blobs r JOIN blobs b ON b.digest = r.digest WHERE r.repo = ? AND r.digest = ?`, id, d.String()).
		Scan(&size, &locator, &loc.Pinned)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, Location{}, blobUnknown(d)
	}
	loc.Locator = locator.String
	if err == nil {
		s.noteRead(id, d.String())
	}
	return size, loc, err
}

// OpenBlob streams length bytes of blob d from offset (length < 0: to the
// end) if repository repo may read it.
func (s *Store) OpenBlob(ctx context.Context, repo string, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	_, loc, err := s.statBlob(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	var rc io.ReadCloser
	if lb, ok := s.backend.(LocatingBackend); ok && loc.Locator != "" {
		rc, err = lb.OpenLocated(ctx, d, loc.Locator, offset, length)
	} else {
		rc, err = s.backend.Open(ctx, d, offset, length)
	}
	if errors.Is(err, ErrNotFound) {
		// Metadata says yes, the bytes are gone: report it as unknown
		// rather than a server error, the client can push it again.
		return nil, blobUnknown(d)
	}
	return rc, err
}

// VerifyBlob reads blob d completely and checks it against its digest.
func (s *Store) VerifyBlob(ctx context.Context, repo string, d digest.Digest) error {
	rc, err := s.OpenBlob(ctx, repo, d, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	v := d.Verifier()
	if _, err := io.Copy(v, rc); err != nil {
		return err
	}
	if !v.Verified() {
		return ErrDigestMismatch
	}
	return nil
}

// DeleteBlob removes blob d from repository repo. The bytes stay while any
// other repository holds the blob; gc reclaims them.
func (s *Store) DeleteBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := checkName(repo); err != nil {
		return err
	}
	id, err := s.lookupRepo(ctx, repo)
	if err != nil {
		return err
	}
	if id == 0 {
		return blobUnknown(d)
	}
	return s.db.update(ctx, func(tx *tx) error {
		res, err := tx.Exec(`DELETE FROM repo_blobs WHERE repo = ? AND digest = ?`, id, d.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return blobUnknown(d)
		}
		return nil
	})
}

// MountBlob makes blob d of repository from readable in repository to. It
// reports false (and no error) when from does not hold d, so the caller can
// fall back to an upload.
func (s *Store) MountBlob(ctx context.Context, from, to string, d digest.Digest) (bool, error) {
	if err := checkName(to); err != nil {
		return false, err
	}
	if !oci.ValidName(from) {
		return false, nil
	}
	if _, err := s.StatBlob(ctx, from, d); err != nil {
		if oci.HasCode(err, oci.CodeBlobUnknown) {
			return false, nil
		}
		return false, err
	}
	mounted := false
	err := s.db.update(ctx, func(tx *tx) error {
		// Re-checked inside the transaction: the source may have lost it.
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM repo_blobs r JOIN repos p ON p.id = r.repo WHERE p.name = ? AND r.digest = ?`, from, d.String()).Scan(&n); err != nil || n == 0 {
			return err
		}
		id, err := s.ensureRepo(tx, to)
		if err != nil {
			return err
		}
		now := unixNow()
		if _, err := tx.Exec(`INSERT INTO repo_blobs (repo, digest, touched) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET touched = excluded.touched`, id, d.String(), now); err != nil {
			return err
		}
		_, err = tx.Exec(`UPDATE blobs SET touched = ? WHERE digest = ?`, now, d.String())
		mounted = err == nil
		return err
	})
	return mounted, err
}

// linkBlob records, in tx, that the backend holds blob d of size bytes and
// that repository repo may read it.
func (s *Store) linkBlob(tx *tx, repo string, d digest.Digest, size int64) error {
	return s.linkLocated(tx, repo, d, size, Location{})
}

// linkLocated is linkBlob recording where the backend put the blob; a
// location replaces the one recorded before (the backend re-added it), no
// location keeps it.
func (s *Store) linkLocated(tx *tx, repo string, d digest.Digest, size int64, loc Location) error {
	id, err := s.ensureRepo(tx, repo)
	if err != nil {
		return err
	}
	now := unixNow()
	locator := sql.NullString{String: loc.Locator, Valid: loc.Locator != ""}
	if _, err := tx.Exec(`INSERT INTO blobs (digest, size, created, touched, locator, pinned) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET touched = excluded.touched,
	locator = COALESCE(excluded.locator, blobs.locator),
	pinned = CASE WHEN excluded.locator IS NULL THEN blobs.pinned ELSE excluded.pinned END`,
		d.String(), size, now, now, locator, loc.Pinned); err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO repo_blobs (repo, digest, touched) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET touched = excluded.touched`, id, d.String(), now)
	return err
}
