package inspect

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
)

// Source is where an image is read: a registry repository, a repository of
// a store, or an OCI image layout. Reads are verified against their digests.
type Source interface {
	// Manifest, SmallBlob and BlobSize read by digest (flatten.Source), so
	// that a partition's digest is computed by the code serve uses.
	flatten.Source
	// Resolve looks a tag or digest up; an unknown one is ErrUnknownRef.
	Resolve(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error)
	// Referrers lists the manifests whose subject is d.
	Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error)
	// Describe names the source: its kind ("registry", "store",
	// "layout"), location and repository.
	Describe() (kind, location, repo string)
}

// Locator is implemented by a Source that knows where a blob is kept beyond
// its digest: a store on the IPFS backend reports each blob's CID.
type Locator interface {
	// BlobLocator returns the blob's locator (IPFS: its CID), "" if none.
	BlobLocator(ctx context.Context, d digest.Digest) (string, error)
}

// The errors inspect reports clearly; errors.Is finds them in what Inspect
// and the sources return.
var (
	// ErrUnknownRef: the tag, digest or repository does not exist.
	ErrUnknownRef = errors.New("unknown reference")
	// ErrNotTDFS: a semantic reference names an image without a field.
	ErrNotTDFS = errors.New("not a 2DFS image")
	// ErrUnreachable: the registry does not answer.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrAuthRequired: the registry wants credentials it was not given
	// (or refused those it was given).
	ErrAuthRequired = errors.New("authentication required")
)
