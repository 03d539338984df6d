package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
// (following its Link pages) or, where the registry has none (404), from
// the fallback tag (ALG-HEX) the distribution spec defines; none when
// neither exists.
func (r *Repository) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	out := []ocispec.Descriptor{}
	next := r.url("referrers/" + d.String())
	for page := 0; next != ""; page++ {
		if page == maxReferrerPages {
			return nil, fmt.Errorf("referrers of %s: more than %d pages", d, maxReferrerPages)
		}
		req, err := r.newRequest(ctx, http.MethodGet, next, nil, 0)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", ocispec.MediaTypeImageIndex)
		resp, err := r.do(req, http.StatusOK, http.StatusNotFound)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			if page > 0 {
				return nil, fmt.Errorf("referrers of %s: page %d is gone", d, page+1)
			}
			return r.referrersByTag(ctx, d)
		}
		ms, err := readReferrers(resp, d)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
		next = nextLink(req.URL, resp.Header.Get("Link"))
	}
	return out, nil
}

// maxReferrerPages bounds how many Link pages Referrers follows.
const maxReferrerPages = 100

func readReferrers(resp *http.Response, d digest.Digest) ([]ocispec.Descriptor, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > oci.MaxManifestSize {
		return nil, fmt.Errorf("referrers of %s: larger than %d bytes", d, oci.MaxManifestSize)
	}
	return parseReferrers(body, d)
}

// referrersByTag reads the referrers index of the fallback tag scheme.
func (r *Repository) referrersByTag(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	_, body, err := r.Manifest(ctx, strings.Replace(d.String(), ":", "-", 1))
	if Class(err) == ErrNotFound {
		return []ocispec.Descriptor{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseReferrers(body, d)
}

func parseReferrers(body []byte, d digest.Digest) ([]ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", d, err)
	}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	return idx.Manifests, nil
}

// nextLink returns the absolute URL of a Link header's rel="next" target
// (RFC 8288, as the distribution spec paginates), resolved against the
// request's URL; "" when there is none. Only a target on the same host is
// followed: credentials are never sent elsewhere.
func nextLink(base *url.URL, header string) string {
	for _, link := range strings.Split(header, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
		if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		next := false
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "rel") && strings.Trim(v, `"`) == "next" {
				next = true
			}
		}
		if !next {
			continue
		}
		u, err := base.Parse(strings.Trim(target, "<>"))
		if err != nil || u.Host != base.Host || u.Scheme != base.Scheme {
			return ""
		}
		return u.String()
	}
	return ""
}
