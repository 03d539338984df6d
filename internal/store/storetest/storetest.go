// Package storetest is the conformance suite of the storage core, written
// once and run against every blob backend (in the spirit of distribution's
// registry/storage/driver/testsuites).
//
// A backend's tests call RunBackend with a constructor of fresh, empty
// backends, and RunStore with a constructor of fresh Stores over that
// backend:
//
//	func TestFS(t *testing.T) {
//		storetest.RunBackend(t, func(t *testing.T) store.Backend {
//			b, err := store.NewFS(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
//
// The suites check behaviour only through the Backend and Store APIs, so a
// failure names a broken promise of backend.go or of the Store, never an
// implementation detail of one backend.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/store"
)

// Payload returns n deterministic pseudo-random bytes for seed.
func Payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(Stream(seed, int64(n)), b); err != nil {
		panic(err) // Stream never fails
	}
	return b
}

// Stream returns a reader of n deterministic pseudo-random bytes for seed,
// generated on the fly: a large blob never has to be held in memory. The same
// seed gives the same bytes as Payload.
func Stream(seed uint64, n int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return io.LimitReader(rand.NewChaCha8(key), n)
}

// StreamDigest returns the digest of Stream(seed, n) by generating it.
func StreamDigest(seed uint64, n int64) digest.Digest {
	h := sha256.New()
	if _, err := io.Copy(h, Stream(seed, n)); err != nil {
		panic(err)
	}
	return digest.NewDigest(digest.SHA256, h)
}

func ctxOf(t *testing.T) context.Context { return t.Context() }

// wantCode fails the test unless err is an OCI error with code.
func wantCode(t *testing.T, err error, code oci.Code, what string) {
	t.Helper()
	if !oci.HasCode(err, code) {
		t.Fatalf("%s: got error %v, want %s", what, err, code)
	}
}

// wantStatus fails the test unless err is an OCI error answered with status.
func wantStatus(t *testing.T, err error, status int, what string) {
	t.Helper()
	var e *oci.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: got error %v, want an OCI error", what, err)
	}
	if e.Status != status {
		t.Fatalf("%s: error %v has status %d, want %d", what, err, e.Status, status)
	}
}

func wantNotFound(t *testing.T, b store.Backend, d digest.Digest, what string) {
	t.Helper()
	ctx := ctxOf(t)
	if n, err := b.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: Stat(%s) = %d, %v; want ErrNotFound", what, d, n, err)
	}
	rc, err := b.Open(ctx, d, 0, -1)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: Open(%s) error = %v; want ErrNotFound", what, d, err)
	}
}

func readAll(t *testing.T, rc io.ReadCloser, err error, what string) []byte {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: reading: %v", what, err)
	}
	return b
}

func wantBytes(t *testing.T, got, want []byte, what string) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes (%s), want %d bytes (%s)", what, len(got), digest.FromBytes(got), len(want), digest.FromBytes(want))
	}
}
