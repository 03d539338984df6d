package serve_test

import (
	"context"
	"testing"

	"github.com/dfsreg/dfsreg/internal/serve/servetest"
	"github.com/dfsreg/dfsreg/internal/store"
)

// TestBattery runs the HTTP battery over the filesystem backend.
func TestBattery(t *testing.T) {
	servetest.RunBattery(t, func(t *testing.T) *store.Store {
		st, err := store.Open(context.Background(), store.Options{Root: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestAuthBattery runs the authentication rows over the filesystem backend.
func TestAuthBattery(t *testing.T) {
	servetest.RunAuthBattery(t, func(t *testing.T) *store.Store {
		st, err := store.Open(context.Background(), store.Options{Root: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
