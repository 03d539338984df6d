package push

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/partition"
)

// FromLayout plans the push of image name of an OCI image layout (see
// ocilayout.Layout.Find for names): every blob its manifests reference and,
// for a 2DFS image, every allotment of its fields, which no manifest
// references and generic copy tools therefore leave behind. A missing
// allotment is an error: the registry would refuse the manifest.
func FromLayout(ctx context.Context, l *ocilayout.Layout, name string) (*Image, error) {
	top, err := l.Find(ctx, name)
	if err != nil {
		return nil, err
	}
	img := &Image{}
	seen := map[digest.Digest]bool{}
	add := func(d ocispec.Descriptor, kind string) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		size, err := l.BlobSize(ctx, d.Digest)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, d.Digest, err)
		}
		if d.Size != 0 && d.Size != size {
			return fmt.Errorf("%s %s: the layout's file has %d bytes, its descriptor says %d", kind, d.Digest, size, d.Size)
		}
		d.Size = size
		img.Blobs = append(img.Blobs, Blob{Desc: d, Kind: kind, Open: layoutOpener(l, d.Digest)})
		return nil
	}
	// The top object need not be a blob of the layout (index.json itself
	// is the image in what `tdfs image export` writes).
	content := ocilayout.WithBlobs(l, flatten.Blob{MediaType: top.Descriptor.MediaType, Digest: top.Descriptor.Digest, Data: top.Body})
	err = ocilayout.Walk(ctx, content, top.Descriptor, func(desc ocispec.Descriptor, body []byte) error {
		if body == nil {
			return add(desc, blobKind(desc.MediaType))
		}
		if desc.Size == 0 {
			desc.Size = int64(len(body))
		}
		m := Manifest{Desc: desc, Body: body}
		if desc.Digest == top.Descriptor.Digest {
			img.Root = m
		} else {
			img.Children = append(img.Children, m)
		}
		allots, ok, err := flatten.FieldAllotments(ctx, l, body)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		if !ok {
			return nil
		}
		for _, a := range allots {
			if err := add(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: a.Digest}, "allotment"); err != nil {
				return fmt.Errorf("2DFS field of manifest %s: allotment (%d,%d): %w", desc.Digest, a.Row, a.Col, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if img.Root.Desc.MediaType == "" {
		img.Root.Desc.MediaType = top.Descriptor.MediaType
	}
	return img, nil
}

func blobKind(mediaType string) string {
	switch mediaType {
	case partition.FieldMediaType:
		return "field"
	case ocispec.MediaTypeImageConfig, "application/vnd.docker.container.image.v1+json":
		return "config"
	}
	return "layer"
}

func layoutOpener(l *ocilayout.Layout, d digest.Digest) func(context.Context, int64) (io.ReadCloser, error) {
	return func(ctx context.Context, off int64) (io.ReadCloser, error) {
		rc, err := l.OpenBlob(ctx, d)
		if err != nil {
			return nil, err
		}
		return seekTo(rc, off)
	}
}

// fileOpener opens a file from an offset.
func fileOpener(path string) func(context.Context, int64) (io.ReadCloser, error) {
	return func(_ context.Context, off int64) (io.ReadCloser, error) {
		f, err := os.Open(filepath.Clean(path))
		if err != nil {
			return nil, err
		}
		return seekTo(f, off)
	}
}

func seekTo(rc io.ReadCloser, off int64) (io.ReadCloser, error) {
	if off == 0 {
		return rc, nil
	}
	s, ok := rc.(io.Seeker)
	if !ok {
		rc.Close()
		return nil, fmt.Errorf("cannot resume at byte %d: not seekable", off)
	}
	if _, err := s.Seek(off, io.SeekStart); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}
