package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
)

func lostUpload(id string) error {
	return oci.Err(oci.CodeBlobUploadUnknown, "the staged bytes of upload %q were lost (server crash or restart); upload the blob again", truncate(id, 80))
}

// finishLost closes an upload whose staged bytes are gone. The one case that
// can still succeed: the server crashed after Commit moved the blob into
// place but before it was recorded. Then the recorded hash state plus the
// bytes of this (retried) closing request hash to d, and the backend holds
// exactly offset+len(body) bytes under d: the blob is linked and the client
// gets its 201. Anything else ends the session with a 4xx; nothing is ever
// linked whose bytes were not checked.
func (s *Store) finishLost(ctx context.Context, repo, id string, d digest.Digest, length int64, r io.Reader) (int64, error) {
	l := s.lockUpload(id)
	gone := true
	defer func() { s.unlockUpload(id, l, gone) }()
	ctx = context.WithoutCancel(ctx)
	row, err := s.loadUpload(ctx, repo, id)
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(row.state); err != nil {
		return 0, err
	}
	var n int64
	if r != nil {
		src := r
		if length >= 0 {
			src = io.LimitReader(r, length)
		}
		if n, err = io.Copy(h, src); err != nil {
			gone = false // the client may retry the same request
			return 0, err
		}
	}
	size := row.offset + n
	epoch, err := s.gcEpoch(ctx) // before Stat: see verifyCommitted
	if err != nil {
		return 0, err
	}
	have, statErr := s.backend.Stat(ctx, d)
	if digest.NewDigest(digest.SHA256, h) != d || statErr != nil || have != size {
		s.dropUpload(ctx, id, nil)
		return 0, lostUpload(id)
	}
	err = s.db.update(ctx, func(tx *tx) error {
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM uploads WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return uploadUnknown(id)
		} else if err != nil {
			return err
		}
		if err := s.verifyCommitted(ctx, tx, d, epoch); err != nil {
			return err
		}
		if err := s.linkBlob(tx, repo, d, size); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM uploads WHERE id = ?`, id)
		return err
	})
	return size, err
}
