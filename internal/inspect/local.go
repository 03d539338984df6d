package inspect

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/store"
)

// StoreSource reads repository repo of a store (open it with
// store.Options.ReadOnly: inspecting then writes nothing). It is a Locator:
// on the IPFS backend each blob's CID is reported.
func StoreSource(st *store.Store, repo string) Source {
	return &storeSource{Source: st.Source(repo), st: st, repo: repo}
}

type storeSource struct {
	flatten.Source
	st   *store.Store
	repo string
}

func (s *storeSource) Describe() (string, string, string) { return "store", s.st.Root(), s.repo }

// unknown makes the store's "unknown" answers ErrUnknownRef.
func unknown(err error) error {
	if oci.HasCode(err, oci.CodeManifestUnknown) || oci.HasCode(err, oci.CodeBlobUnknown) || oci.HasCode(err, oci.CodeNameUnknown) ||
		errors.Is(err, ocilayout.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrUnknownRef, err)
	}
	return err
}

func (s *storeSource) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	m, err := s.st.GetManifest(ctx, s.repo, ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, unknown(err)
	}
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body))}, m.Body, nil
}

func (s *storeSource) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	mt, b, err := s.Source.Manifest(ctx, d)
	return mt, b, unknown(err)
}

func (s *storeSource) SmallBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	b, err := s.Source.SmallBlob(ctx, d)
	return b, unknown(err)
}

func (s *storeSource) BlobSize(ctx context.Context, d digest.Digest) (int64, error) {
	n, err := s.Source.BlobSize(ctx, d)
	return n, unknown(err)
}

// BlobSizes is flatten.SizeSource: one query for a whole field when the
// store's source can; otherwise no sizes, which flatten then asks for one
// by one (BlobSize).
func (s *storeSource) BlobSizes(ctx context.Context, ds []digest.Digest) (map[digest.Digest]int64, error) {
	ss, ok := s.Source.(flatten.SizeSource)
	if !ok {
		return map[digest.Digest]int64{}, nil
	}
	return ss.BlobSizes(ctx, ds)
}

func (s *storeSource) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	return s.st.Referrers(ctx, s.repo, d, "")
}

func (s *storeSource) BlobLocator(ctx context.Context, d digest.Digest) (string, error) {
	loc, err := s.st.BlobLocation(ctx, s.repo, d)
	if oci.HasCode(err, oci.CodeBlobUnknown) {
		return "", nil // a missing blob has no location; its size says so
	}
	return loc.Locator, err
}

// LayoutSource reads an OCI image layout. Referrers are the manifests
// index.json lists whose subject is the image.
func LayoutSource(l *ocilayout.Layout) Source { return &layoutSource{l} }

type layoutSource struct{ l *ocilayout.Layout }

func (s *layoutSource) Describe() (string, string, string) { return "layout", s.l.Dir(), "" }

func (s *layoutSource) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	img, err := s.l.Find(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, unknown(err)
	}
	return img.Descriptor, img.Body, nil
}

func (s *layoutSource) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	mt, b, err := s.l.Manifest(ctx, d)
	return mt, b, unknown(err)
}

func (s *layoutSource) SmallBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	b, err := s.l.SmallBlob(ctx, d)
	return b, unknown(err)
}

func (s *layoutSource) BlobSize(ctx context.Context, d digest.Digest) (int64, error) {
	n, err := s.l.BlobSize(ctx, d)
	return n, unknown(err)
}

func (s *layoutSource) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	out := []ocispec.Descriptor{}
	for _, e := range s.l.Entries() {
		if e.Digest == d || !ocilayout.IsManifest(e.MediaType) {
			continue
		}
		mt, body, err := s.l.Manifest(ctx, e.Digest)
		if err != nil {
			return nil, unknown(err)
		}
		m, err := oci.ParseManifest(mt, body)
		if err != nil || m.Subject == nil || m.Subject.Digest != d {
			continue
		}
		out = append(out, ocispec.Descriptor{MediaType: m.MediaType, Digest: e.Digest, Size: int64(len(body)),
			ArtifactType: m.ArtifactType, Annotations: m.Annotations})
	}
	return out, nil
}
