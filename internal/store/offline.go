package store

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/ocilayout"
)

// What the offline commands (dfsreg partition, dfsreg flatten) need beyond
// Partition: reading a repository as image content, and storing an image
// that comes from elsewhere (an OCI layout, another repository).

// OpenBlob streams blob d of the repository (ocilayout.Content).
func (r repoSource) OpenBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	return r.s.OpenBlob(ctx, r.repo, d, 0, -1)
}

// Content returns repository repo's manifests and blobs as
// ocilayout.Content, to write an image of the store to an OCI layout.
func (s *Store) Content(repo string) ocilayout.Content { return repoSource{s, repo} }

// PutImage stores the image top, read through c, in repository repo, and
// tags it tag unless tag is "". Blobs the repository cannot read yet are
// mounted from repository mountFrom when it holds them (mountFrom may be
// ""), else copied from c and verified; child manifests are stored by
// digest, top last. Everything is validated as a push would be, so a 2DFS
// image whose allotments are not in repo is refused (allotments are not
// part of the walk: see ocilayout.Walk).
func (s *Store) PutImage(ctx context.Context, repo, tag string, top ocispec.Descriptor, c ocilayout.Content, mountFrom string) (*PutResult, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	var res *PutResult
	err := ocilayout.Walk(ctx, c, top, func(desc ocispec.Descriptor, body []byte) error {
		if body == nil {
			return s.copyBlob(ctx, repo, desc, c, mountFrom)
		}
		if desc.Digest != top.Digest {
			if _, err := s.GetManifest(ctx, repo, desc.Digest.String()); err == nil {
				return nil
			}
		}
		ref := desc.Digest.String()
		if desc.Digest == top.Digest && tag != "" {
			ref = tag
		}
		r, err := s.PutManifest(ctx, repo, ref, desc.MediaType, body)
		if err != nil {
			return fmt.Errorf("storing manifest %s in %s: %w", desc.Digest, repo, err)
		}
		if desc.Digest == top.Digest {
			res = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Store) copyBlob(ctx context.Context, repo string, desc ocispec.Descriptor, c ocilayout.Content, mountFrom string) error {
	if _, err := s.StatBlob(ctx, repo, desc.Digest); err == nil {
		return nil
	}
	if mountFrom != "" && mountFrom != repo {
		ok, err := s.MountBlob(ctx, mountFrom, repo, desc.Digest)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	rc, err := c.OpenBlob(ctx, desc.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	size := desc.Size
	if size == 0 {
		size = -1
	}
	if _, err := s.PutBlob(ctx, repo, desc.Digest, size, rc); err != nil {
		return fmt.Errorf("storing blob %s in %s: %w", desc.Digest, repo, err)
	}
	return nil
}
