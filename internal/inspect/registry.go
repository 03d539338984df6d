package inspect

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/remote"
)

// RegistrySource reads the repository of ref (parsed with
// remote.ParseReference) from its registry over HTTP, with the client push
// uses. The registry is dialled (pinged, credentials from o.Keychain, by
// default the docker configuration) at the first read, so that its
// failures are reported like any other: ErrAuthRequired, ErrUnreachable,
// ErrUnknownRef.
func RegistrySource(ref remote.Reference, o remote.Options) Source {
	if o.UserAgent == "" {
		o.UserAgent = "dfsreg-inspect"
	}
	return &registrySource{ref: ref, opts: o}
}

type registrySource struct {
	ref  remote.Reference
	opts remote.Options

	once sync.Once
	repo *remote.Repository
	err  error
}

func (s *registrySource) Describe() (string, string, string) {
	return "registry", s.ref.Registry(), s.ref.Repository()
}

// dial connects to the registry once, with pull access to the repository.
func (s *registrySource) dial(ctx context.Context) (*remote.Repository, error) {
	s.once.Do(func() {
		c, err := remote.Dial(ctx, s.ref.Registry(), s.opts, remote.PullScope(s.ref.Repository()))
		if err != nil {
			s.err = s.classify(s.ref.Registry(), err)
			return
		}
		s.repo = c.Repository(s.ref.Repository())
	})
	return s.repo, s.err
}

// what names a tag, digest or blob of the repository in errors.
func (s *registrySource) what(ref string) string {
	sep := ":"
	if _, err := digest.Parse(ref); err == nil {
		sep = "@"
	}
	return s.ref.Repo.Name() + sep + ref
}

func (s *registrySource) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	r, err := s.dial(ctx)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	d, body, err := r.Manifest(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, s.classify(s.what(ref), err)
	}
	return d, body, nil
}

func (s *registrySource) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	desc, body, err := s.Resolve(ctx, d.String()) // checks the digest
	if err != nil {
		return "", nil, err
	}
	return desc.MediaType, body, nil
}

func (s *registrySource) SmallBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	r, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := r.OpenBlob(ctx, d)
	if err != nil {
		return nil, s.classify(s.what(d.String()), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxConfig+1))
	if err != nil {
		return nil, s.classify(s.what(d.String()), err)
	}
	if len(b) > maxConfig {
		return nil, fmt.Errorf("blob %s has more than the %d bytes this operation reads", d, maxConfig)
	}
	if d.Validate() != nil || d.Algorithm().FromBytes(b) != d {
		return nil, fmt.Errorf("blob %s: the registry's bytes do not match the digest", d)
	}
	return b, nil
}

func (s *registrySource) BlobSize(ctx context.Context, d digest.Digest) (int64, error) {
	r, err := s.dial(ctx)
	if err != nil {
		return 0, err
	}
	n, err := r.BlobSize(ctx, d)
	if err != nil {
		return 0, s.classify(s.what(d.String()), err)
	}
	return n, nil
}

func (s *registrySource) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	r, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := r.Referrers(ctx, d)
	if err != nil {
		return nil, s.classify(s.what(d.String()), err)
	}
	return ds, nil
}

// classify turns the client's errors into the ones inspect explains, by
// remote.Class.
func (s *registrySource) classify(what string, err error) error {
	switch remote.Class(err) {
	case remote.ErrAuth:
		st, _ := remote.Status(err)
		return fmt.Errorf("%w: the registry answered %d for %s (log in with docker login, or put credentials in $DOCKER_CONFIG/config.json): %v", ErrAuthRequired, st, what, err)
	case remote.ErrNotFound:
		return fmt.Errorf("%w: %v", ErrUnknownRef, err)
	case remote.ErrUnreachable:
		if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			return fmt.Errorf("%w over HTTPS (%s speaks plain HTTP: use --plain-http): %v", ErrUnreachable, s.ref.Registry(), err)
		}
		return fmt.Errorf("%w (%s): %v", ErrUnreachable, s.ref.Registry(), err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
