package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfsreg/dfsreg/internal/oci"
)

func TestExpireUploads(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old, err := s.StartUpload(ctx, "r/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, "r/a", old.ID, 0, 5, strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	fresh, err := s.StartUpload(ctx, "r/a")
	if err != nil {
		t.Fatal(err)
	}
	// Age the first session by two hours rather than sleeping.
	err = s.db.update(ctx, func(tx *tx) error {
		_, err := tx.Exec(`UPDATE uploads SET updated = ? WHERE id = ?`, time.Now().Add(-2*time.Hour).UnixMilli(), old.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	staged, _ := filepath.Glob(filepath.Join(root, "uploads", "*"))
	if len(staged) != 2 {
		t.Fatalf("staged files before expiry: %d, want 2", len(staged))
	}

	n, err := s.ExpireUploads(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
	if _, err := s.UploadStatus(ctx, "r/a", old.ID); !oci.HasCode(err, oci.CodeBlobUploadUnknown) {
		t.Fatalf("expired session status: %v, want BLOB_UPLOAD_UNKNOWN", err)
	}
	if _, err := s.UploadStatus(ctx, "r/a", fresh.ID); err != nil {
		t.Fatalf("fresh session: %v", err)
	}
	staged, _ = filepath.Glob(filepath.Join(root, "uploads", "*"))
	if len(staged) != 1 {
		t.Fatalf("staged files after expiry: %v, want only the fresh session's", staged)
	}
	if _, err := os.Stat(staged[0]); err != nil {
		t.Fatal(err)
	}
}
