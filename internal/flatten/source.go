package flatten

import (
	"context"
	_ "crypto/sha256" // digest.SHA256
	_ "crypto/sha512" // digest.SHA384, digest.SHA512
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/partition"
)

// Source gives read access to the content of one repository. The server
// implements it over its storage; offline tools over an OCI layout.
type Source interface {
	// Manifest returns a manifest (or index) stored in the repository by digest.
	Manifest(ctx context.Context, d digest.Digest) (mediaType string, body []byte, err error)
	// SmallBlob returns a small blob's bytes (field JSON, configs); implementations cap the size.
	SmallBlob(ctx context.Context, d digest.Digest) ([]byte, error)
	// BlobSize reports the stored size of a blob, or an error if it is not in the repository.
	BlobSize(ctx context.Context, d digest.Digest) (int64, error)
}

// FieldSource is implemented by a Source that keeps parsed fields (the store
// caches them by digest, so a cold partition does not parse the field
// again). Field must return the field only if the blob is in the repository
// and hashes to d.
type FieldSource interface {
	Field(ctx context.Context, d digest.Digest) (*partition.Field, error)
}

// SizeSource is implemented by a Source that can report many blob sizes in
// one call. Digests that are not in the repository are left out of the map.
type SizeSource interface {
	BlobSizes(ctx context.Context, ds []digest.Digest) (map[digest.Digest]int64, error)
}

// ErrDigestMismatch is returned when a Source hands back content that does
// not hash to the digest asked for.
var ErrDigestMismatch = errors.New("content does not match its digest")

// verify checks that b hashes to d.
func verify(d digest.Digest, b []byte) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm().FromBytes(b) != d {
		return fmt.Errorf("%w: %s", ErrDigestMismatch, d)
	}
	return nil
}

func fetchManifest(ctx context.Context, src Source, d digest.Digest) ([]byte, error) {
	_, b, err := src.Manifest(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	if err := verify(d, b); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	return b, nil
}

func fetchSmallBlob(ctx context.Context, src Source, what string, d digest.Digest) ([]byte, error) {
	b, err := src.SmallBlob(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, d, err)
	}
	if err := verify(d, b); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, d, err)
	}
	return b, nil
}
