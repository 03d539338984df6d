package inspect

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// RegistryOptions configure a registry Source.
type RegistryOptions struct {
	// PlainHTTP talks HTTP instead of HTTPS (loopback and private
	// addresses already default to HTTP); Insecure skips TLS certificate
	// verification.
	PlainHTTP, Insecure bool
	// Keychain finds credentials; nil means the docker configuration
	// (authn.DefaultKeychain: ~/.docker/config.json, DOCKER_CONFIG,
	// credential helpers).
	Keychain authn.Keychain
	// UserAgent is sent with every request.
	UserAgent string
}

// ParseRegistryRef parses a registry reference with docker's defaults
// (docker.io, library/, latest) and returns it with the tag or digest to
// look up in its repository.
func ParseRegistryRef(ref string, o RegistryOptions) (name.Repository, string, error) {
	var opts []name.Option
	if o.PlainHTTP {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return name.Repository{}, "", fmt.Errorf("%q is not a registry reference: %w", ref, err)
	}
	return r.Context(), r.Identifier(), nil
}

// RegistrySource reads repository repo of a registry over HTTP.
func RegistrySource(ctx context.Context, repo name.Repository, o RegistryOptions) (Source, error) {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	if o.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure asks for it
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "dfsreg-inspect"
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(tr),
		remote.WithAuthFromKeychain(kc),
		remote.WithUserAgent(ua),
		// A refused connection or a missing credential does not get
		// better by waiting: one quick retry for transient errors only.
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2}),
	}
	p, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	return &registrySource{repo: repo, opts: append(opts, remote.Reuse(p))}, nil
}

type registrySource struct {
	repo name.Repository
	opts []remote.Option
}

func (s *registrySource) Describe() (string, string, string) {
	return "registry", s.repo.RegistryStr(), s.repo.RepositoryStr()
}

func (s *registrySource) with(ctx context.Context) []remote.Option {
	return append(s.opts[:len(s.opts):len(s.opts)], remote.WithContext(ctx))
}

// ref makes a tag or digest of the repository.
func (s *registrySource) ref(ref string) (name.Reference, error) {
	if oci.LooksLikeDigest(ref) {
		return name.NewDigest(s.repo.Name()+"@"+ref, name.StrictValidation)
	}
	return name.NewTag(s.repo.Name()+":"+ref, name.StrictValidation)
}

func (s *registrySource) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	r, err := s.ref(ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	d, err := remote.Get(r, s.with(ctx)...)
	if err != nil {
		return ocispec.Descriptor{}, nil, s.classify(r.String(), err)
	}
	return ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size}, d.Manifest, nil
}

func (s *registrySource) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	desc, body, err := s.Resolve(ctx, d.String())
	if err != nil {
		return "", nil, err
	}
	if desc.Digest != d {
		return "", nil, fmt.Errorf("manifest %s: the registry answered %s", d, desc.Digest)
	}
	return desc.MediaType, body, nil
}

func (s *registrySource) layer(ctx context.Context, d digest.Digest) (v1.Layer, string, error) {
	ref := s.repo.Digest(d.String())
	l, err := remote.Layer(ref, s.with(ctx)...)
	return l, ref.String(), err
}

func (s *registrySource) SmallBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	l, ref, err := s.layer(ctx, d)
	if err != nil {
		return nil, s.classify(ref, err)
	}
	rc, err := l.Compressed() // verifies the digest at EOF
	if err != nil {
		return nil, s.classify(ref, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxConfig+1))
	if err != nil {
		return nil, s.classify(ref, err)
	}
	if len(b) > maxConfig {
		return nil, fmt.Errorf("blob %s has more than the %d bytes this operation reads", d, maxConfig)
	}
	if digest.FromBytes(b) != d {
		return nil, fmt.Errorf("blob %s: the registry's bytes do not match the digest", d)
	}
	return b, nil
}

func (s *registrySource) BlobSize(ctx context.Context, d digest.Digest) (int64, error) {
	l, ref, err := s.layer(ctx, d)
	if err != nil {
		return 0, s.classify(ref, err)
	}
	n, err := l.Size() // HEAD
	if err != nil {
		return 0, s.classify(ref, err)
	}
	return n, nil
}

func (s *registrySource) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	ref := s.repo.Digest(d.String())
	idx, err := remote.Referrers(ref, s.with(ctx)...)
	if err != nil {
		return nil, s.classify(ref.String(), err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := make([]ocispec.Descriptor, 0, len(im.Manifests))
	for _, m := range im.Manifests {
		od := ocispec.Descriptor{MediaType: string(m.MediaType), Digest: digest.Digest(m.Digest.String()), Size: m.Size,
			ArtifactType: m.ArtifactType, Annotations: m.Annotations}
		if p := m.Platform; p != nil {
			od.Platform = &ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		}
		out = append(out, od)
	}
	return out, nil
}

// classify turns the client's errors into the ones inspect explains.
func (s *registrySource) classify(what string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden || hasCode(te, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return fmt.Errorf("%w: the registry answered %d for %s (log in with docker login, or put credentials in $DOCKER_CONFIG/config.json): %v", ErrAuthRequired, te.StatusCode, what, err)
		case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			return fmt.Errorf("%w: %v", ErrUnknownRef, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.As(err, &oe) || errors.As(err, &de) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w (%s): %v", ErrUnreachable, s.repo.RegistryStr(), err)
	}
	if strings.Contains(err.Error(), "http: server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%w over HTTPS (%s speaks plain HTTP: use --plain-http): %v", ErrUnreachable, s.repo.RegistryStr(), err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}
