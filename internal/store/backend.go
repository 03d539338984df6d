// Package store is dfsreg's storage core: a content-addressed blob store over
// a pluggable Backend (filesystem, Storj, IPFS), and the metadata that makes
// blobs, manifests, tags, referrers and uploads a registry, kept in SQLite.
//
// Every subcommand (serve, partition, flatten, gc, inspect) opens the same
// Store; the server is one client of it among others.
package store

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound is returned by a Backend for content it does not hold.
var ErrNotFound = errors.New("not found")

// Backend keeps blob bytes under their digest. It knows nothing of
// repositories, manifests or tags: the metadata decides what is visible, and a
// backend only has to make bytes durable before Commit returns.
type Backend interface {
	// Open streams length bytes of blob d from offset (length < 0: to the
	// end). A blob that is not there is ErrNotFound.
	Open(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error)
	// Stat returns the size of blob d, or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Delete removes blob d; deleting an absent blob is not an error.
	Delete(ctx context.Context, d digest.Digest) error
	// Stage starts a new staged upload (handle == "") or resumes one from the
	// handle a previous Staged reported, at offset bytes already written
	// (anything the backend holds past offset is discarded).
	Stage(ctx context.Context, handle string, offset int64) (Staged, error)
}

// Staged is an upload in progress. Bytes written to it are not visible as a
// blob until Commit.
type Staged interface {
	io.Writer
	// Handle identifies the staged upload so that Stage can resume it in
	// another process. It may change after a Write.
	Handle() string
	// Commit makes the bytes durable and visible under d. The caller has
	// computed d while streaming; when verify is set the backend re-reads
	// what it staged and fails with a digest mismatch if it differs (used
	// when the upload was resumed after a restart, when bytes written before
	// it may not have reached stable storage). Committing over an existing
	// blob with the same digest succeeds and discards the staged copy.
	Commit(ctx context.Context, d digest.Digest, verify bool) error
	// Close releases resources; the staged upload stays resumable.
	Close() error
	// Abort discards the staged upload.
	Abort(ctx context.Context) error
}

// ErrDigestMismatch is returned by Commit with verify when the staged bytes
// do not hash to the expected digest.
var ErrDigestMismatch = errors.New("staged content does not match its digest")

// ErrStagedLost is returned by Stage when resuming a handle whose staged
// bytes are gone: typically a crash after Commit moved them into place but
// before the store recorded the blob. Stage must not start an empty upload
// under the old handle instead.
var ErrStagedLost = errors.New("staged upload is gone")

// Location is where a backend keeps a committed blob when its digest alone
// does not find it (IPFS: the CID the node computed). The store records it
// with the blob, in the transaction that makes the blob visible, and hands it
// back to the backend (LocatingBackend) when it reads the blob.
type Location struct {
	// Locator is opaque to the store; "" means the digest alone finds the
	// blob.
	Locator string `json:"locator,omitempty"`
	// Pinned: the backend keeps the blob under an explicit claim (IPFS: a
	// recursive pin) that deleting it releases.
	Pinned bool `json:"pinned,omitempty"`
}

// Located is implemented by a Staged that can say where Commit put the blob.
// Location is called only after a successful Commit.
type Located interface {
	Location() Location
}

// LocatingBackend is implemented by a Backend whose Staged uploads are
// Located: given the recorded locator it reaches a blob without looking its
// digest up. Open, Stat and Delete still work by digest alone.
type LocatingBackend interface {
	Backend
	// OpenLocated is Open of the blob that Commit reported at locator.
	OpenLocated(ctx context.Context, d digest.Digest, locator string, offset, length int64) (io.ReadCloser, error)
	// DeleteLocated is Delete of the blob that Commit reported at locator
	// (IPFS: unpin it).
	DeleteLocated(ctx context.Context, d digest.Digest, locator string) error
}
