package store

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// A HEAD (StatBlob) of an old blob makes it fresh again once the noted reads
// are written, without writing on the read itself.
func TestReadsRefreshTouched(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := []byte("layer")
	d := digest.FromBytes(b)
	if _, err := s.PutBlob(ctx, "r/a", d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour).UnixMilli()
	if err := s.db.update(ctx, func(tx *tx) error {
		_, err := tx.Exec(`UPDATE repo_blobs SET touched = ?`, old)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	touched := func() int64 {
		var v int64
		if err := s.db.queryRow(ctx, `SELECT touched FROM repo_blobs`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := s.StatBlob(ctx, "r/a", d); err != nil {
		t.Fatal(err)
	}
	if touched() != old {
		t.Fatal("the read wrote on the request path")
	}
	if err := s.flushTouches(ctx); err != nil {
		t.Fatal(err)
	}
	if got := touched(); got < time.Now().Add(-time.Minute).UnixMilli() {
		t.Fatalf("touched = %d after the flush, want about now", got)
	}
}
