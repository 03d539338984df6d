// Package push uploads images to a registry the way a careful client does:
// every blob first (HEAD before upload, cross-repository mount when another
// repository of the registry has it, parallel and bounded, chunked and
// resumable when large, retried with backoff on transient errors), then the
// child manifests by digest, then the root by tag, so the tag never names
// an incomplete image. An interrupted push leaves no tag; running it again
// skips what already arrived.
//
// What to push is an Image: built by FromLayout (an OCI image layout, 2DFS
// allotments included) or Build2DFS (a 2dfs.json on a base image). The
// package reports progress as Events and returns a Result; it never prints.
package push

import (
	"context"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Blob is one blob to push.
type Blob struct {
	Desc ocispec.Descriptor
	// Kind labels the blob for humans: "config", "layer", "field",
	// "allotment".
	Kind string
	// Open reads the blob from byte offset.
	Open func(ctx context.Context, offset int64) (io.ReadCloser, error)
	// MountFrom is a repository of the target registry that holds the
	// blob, to mount it from; "" when there is none.
	MountFrom string
}

// Manifest is a manifest or index to push, with its bytes.
type Manifest struct {
	Desc ocispec.Descriptor
	Body []byte
}

// Image is what Push sends.
type Image struct {
	// Blobs are uploaded first, in any order.
	Blobs []Blob
	// Children are pushed next, by digest, in order.
	Children []Manifest
	// Root is pushed last, by the target's tag.
	Root Manifest
}

// Size is the total size of the image's blobs.
func (img *Image) Size() int64 {
	var n int64
	for _, b := range img.Blobs {
		n += b.Desc.Size
	}
	return n
}

// BlobStatus is how a blob got to the registry.
type BlobStatus string

const (
	Uploaded BlobStatus = "uploaded"
	Exists   BlobStatus = "exists"
	Mounted  BlobStatus = "mounted"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// PushStart: the push begins; Count blobs, Bytes in total.
	PushStart EventKind = iota
	// BlobStart: the blob is being worked on (HEAD sent).
	BlobStart
	// BlobProgress: Bytes of the blob have been sent.
	BlobProgress
	// BlobRetry: a transient error (Err); the operation is tried again.
	BlobRetry
	// BlobDone: the blob is in the registry (Status).
	BlobDone
	// ManifestDone: a child manifest or the root was stored.
	ManifestDone
)

// Event is a progress report. Observers are called one at a time.
type Event struct {
	Kind   EventKind
	Desc   ocispec.Descriptor
	Label  string // the Blob's Kind, or "manifest"/"index"
	Bytes  int64  // BlobProgress, BlobDone: bytes of this blob sent so far
	Count  int    // PushStart: number of blobs
	Status BlobStatus
	Err    error
}

// Result is what Push did.
type Result struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	Blobs     int    `json:"blobs"`
	Uploaded  int    `json:"uploaded"`
	Existing  int    `json:"existing"`
	Mounted   int    `json:"mounted"`
	Manifests int    `json:"manifests"`
	Retries   int    `json:"retries"`
	// BlobBytes is the total size of the image's blobs; BytesSent the
	// bytes of the upload requests that succeeded (a chunk that failed
	// and was sent again counts once).
	BlobBytes int64 `json:"blobBytes"`
	BytesSent int64 `json:"bytesSent"`
	// Allotments and Platforms describe a built 2DFS image, BuildSeconds
	// the time its build took (Seconds is the push).
	Allotments   int           `json:"allotments,omitempty"`
	Platforms    []string      `json:"platforms,omitempty"`
	BuildSeconds float64       `json:"buildSeconds,omitempty"`
	Duration     time.Duration `json:"-"`
	Seconds      float64       `json:"seconds"`
}
