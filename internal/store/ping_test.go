package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dfsreg/dfsreg/internal/store"
)

func TestPing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	blobs := filepath.Join(root, "blobs-elsewhere")
	fs, err := store.NewFS(blobs)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{Root: root, Backend: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping of a fresh store: %v", err)
	}
	// the backend's directory gone: not ready
	if err := os.RemoveAll(blobs); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the blob directory gone")
	}
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping with the directory back: %v", err)
	}
	// the database closed: not ready
	st.Close()
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping succeeded on a closed store")
	}
}
