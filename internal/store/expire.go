package store

import (
	"context"
	"time"
)

// ExpireUploads ends upload sessions idle for longer than idle and discards
// their staged bytes. It returns how many it ended. A session a request is
// using right now is left alone and looked at again next time.
func (s *Store) ExpireUploads(ctx context.Context, idle time.Duration) (int, error) {
	cutoff := time.Now().Add(-idle).UnixMilli()
	rows, err := s.db.query(ctx, `SELECT id, handle, offset FROM uploads WHERE updated < ?`, cutoff)
	if err != nil {
		return 0, err
	}
	type stale struct {
		id, handle string
		offset     int64
	}
	var list []stale
	for rows.Next() {
		var st stale
		if err := rows.Scan(&st.id, &st.handle, &st.offset); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, st := range list {
		l, ok := s.tryLockUpload(st.id)
		if !ok {
			continue // in use
		}
		gone := false
		err := s.db.update(ctx, func(tx *tx) error {
			res, err := tx.Exec(`DELETE FROM uploads WHERE id = ? AND updated < ?`, st.id, cutoff)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			gone = k > 0
			return nil
		})
		if err == nil && gone {
			// The row is gone first: no request can resume the session
			// while its bytes are being discarded.
			if staged, serr := s.backend.Stage(ctx, st.handle, 0); serr == nil {
				staged.Abort(ctx)
			}
			n++
		}
		s.unlockUpload(st.id, l, gone)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// tryLockUpload takes a session's lock only if no request holds it.
func (s *Store) tryLockUpload(id string) (*uploadLock, bool) {
	s.uploadMu.Lock()
	defer s.uploadMu.Unlock()
	l := s.uploads[id]
	if l == nil {
		l = &uploadLock{}
		s.uploads[id] = l
	}
	if !l.mu.TryLock() {
		return nil, false
	}
	l.refs++
	return l, true
}
