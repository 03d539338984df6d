package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// BlobSize asks (HEAD) for the size of blob d. A blob the repository does
// not have is an *Error with Status 404.
func (r *Repository) BlobSize(ctx context.Context, d digest.Digest) (int64, error) {
	req, err := r.newRequest(ctx, http.MethodHead, r.url("blobs/"+d.String()), nil, 0)
	if err != nil {
		return 0, err
	}
	resp, err := r.do(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return 0, fmt.Errorf("HEAD blob %s: no Content-Length", d)
	}
	return resp.ContentLength, nil
}

// Referrers lists the manifests whose subject is d: from the referrers API
// or, where the registry has none (404), from the fallback tag
// (ALG-HEX) the distribution spec defines; none when neither exists.
func (r *Repository) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	req, err := r.newRequest(ctx, http.MethodGet, r.url("referrers/"+d.String()), nil, 0)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageIndex)
	resp, err := r.do(req, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body []byte
	if resp.StatusCode == http.StatusOK {
		if body, err = io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1)); err != nil {
			return nil, err
		}
		if len(body) > oci.MaxManifestSize {
			return nil, fmt.Errorf("referrers of %s: larger than %d bytes", d, oci.MaxManifestSize)
		}
	} else {
		_, body, err = r.Manifest(ctx, strings.Replace(d.String(), ":", "-", 1))
		if Class(err) == ErrNotFound {
			return []ocispec.Descriptor{}, nil
		}
		if err != nil {
			return nil, err
		}
	}
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", d, err)
	}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	return idx.Manifests, nil
}
