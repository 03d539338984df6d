package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// Options configure how a Client reaches a registry.
type Options struct {
	// PlainHTTP allows plain HTTP: the registry is pinged over HTTPS and
	// HTTP and the one that answers is used. Loopback and localhost
	// registries always allow it, as docker does.
	PlainHTTP bool
	// Insecure skips TLS certificate verification (and allows HTTP).
	Insecure bool
	// Keychain finds credentials; nil is authn.DefaultKeychain, which
	// reads ~/.docker/config.json, $DOCKER_CONFIG and credential helpers.
	Keychain authn.Keychain
	// Transport is the underlying transport; nil is a clone of
	// http.DefaultTransport tuned for large uploads.
	Transport http.RoundTripper
	// UserAgent is sent with every request.
	UserAgent string
}

// Client is an authenticated connection to one registry.
type Client struct {
	reg    name.Registry
	scheme string
	hc     *http.Client
}

// Scope strings for Dial.
func PullScope(repo string) string { return "repository:" + repo + ":pull" }
func PushScope(repo string) string { return "repository:" + repo + ":pull,push" }

// Dial pings the registry, answers its authentication challenge (none,
// basic or bearer) with the keychain's credentials for it (anonymous when
// it has none) and returns a client whose tokens cover scopes. Tokens are
// refreshed, and extra scopes requested, when the registry asks.
func Dial(ctx context.Context, registry string, opts Options, scopes ...string) (*Client, error) {
	var nopts []name.Option
	if opts.PlainHTTP || opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(registry, nopts...)
	if err != nil {
		return nil, err
	}
	kc := opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	auth, err := kc.Resolve(reg)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", registry, err)
	}
	base := opts.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		t.WriteBufferSize = 256 << 10
		t.ReadBufferSize = 256 << 10
		t.ResponseHeaderTimeout = 5 * time.Minute
		if opts.Insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure
		}
		base = t
	}
	if opts.UserAgent != "" {
		base = transport.NewUserAgent(base, opts.UserAgent)
	}
	rt, err := transport.NewWithContext(ctx, reg, auth, base, scopes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", registry, err)
	}
	return &Client{reg: reg, scheme: reg.Scheme(), hc: &http.Client{Transport: rt}}, nil
}

// Registry is the registry host[:port].
func (c *Client) Registry() string { return c.reg.RegistryStr() }

// Repository returns the repository path of this registry.
func (c *Client) Repository(path string) *Repository {
	return &Repository{c: c, name: path}
}

// Repository is one repository of a registry.
type Repository struct {
	c    *Client
	name string
}

// Name is the repository path.
func (r *Repository) Name() string { return r.name }

func (r *Repository) url(rest string) string {
	return r.c.scheme + "://" + r.c.reg.RegistryStr() + "/v2/" + r.name + "/" + rest
}

// do sends req and checks the status is one of want; otherwise it returns
// an *Error and closes the body.
func (r *Repository) do(req *http.Request, want ...int) (*http.Response, error) {
	resp, err := r.c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, newError(req, resp)
}

func (r *Repository) newRequest(ctx context.Context, method, u string, body io.Reader, size int64) (*http.Request, error) {
	if body == nil || size == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	return req, nil
}

// HeadBlob reports whether the repository has blob d.
func (r *Repository) HeadBlob(ctx context.Context, d digest.Digest) (bool, error) {
	req, err := r.newRequest(ctx, http.MethodHead, r.url("blobs/"+d.String()), nil, 0)
	if err != nil {
		return false, err
	}
	resp, err := r.do(req, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// OpenBlob streams blob d. The caller verifies the digest.
func (r *Repository) OpenBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	return r.OpenBlobAt(ctx, d, 0)
}

// OpenBlobAt streams blob d from byte offset.
func (r *Repository) OpenBlobAt(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error) {
	req, err := r.newRequest(ctx, http.MethodGet, r.url("blobs/"+d.String()), nil, 0)
	if err != nil {
		return nil, err
	}
	want := http.StatusOK
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		want = http.StatusPartialContent
	}
	resp, err := r.do(req, want)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// manifestAccept is every manifest media type a client takes.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
	oci.MediaTypeDockerManifestList, oci.MediaTypeDockerManifest,
}, ", ")

// Manifest fetches the manifest or index named by ref (a tag or a digest)
// and returns its descriptor (media type from Content-Type) and bytes. A
// body that does not match a requested digest is an error.
func (r *Repository) Manifest(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	req, err := r.newRequest(ctx, http.MethodGet, r.url("manifests/"+ref), nil, 0)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := r.do(req, http.StatusOK)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oci.MaxManifestSize+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if len(body) > oci.MaxManifestSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: larger than %d bytes", ref, oci.MaxManifestSize)
	}
	desc := ocispec.Descriptor{MediaType: resp.Header.Get("Content-Type"), Digest: digest.FromBytes(body), Size: int64(len(body))}
	if want, err := digest.Parse(ref); err == nil && want != desc.Digest {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: the registry sent content with digest %s", ref, desc.Digest)
	}
	return desc, body, nil
}

// PutManifest stores body under ref (a tag or its digest).
func (r *Repository) PutManifest(ctx context.Context, ref, mediaType string, body []byte) error {
	req, err := r.newRequest(ctx, http.MethodPut, r.url("manifests/"+ref), strings.NewReader(string(body)), int64(len(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := r.do(req, http.StatusCreated, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// StartUpload opens an upload session. With mount and from set it asks
// for a cross-repository mount of blob mount from repository from: when the
// registry mounts it, mounted is true and there is no session.
func (r *Repository) StartUpload(ctx context.Context, mount digest.Digest, from string) (location string, mounted bool, err error) {
	u := r.url("blobs/uploads/")
	if mount != "" && from != "" {
		u += "?" + url.Values{"mount": {mount.String()}, "from": {from}}.Encode()
	}
	req, err := r.newRequest(ctx, http.MethodPost, u, nil, 0)
	if err != nil {
		return "", false, err
	}
	resp, err := r.do(req, http.StatusAccepted, http.StatusCreated)
	if err != nil {
		return "", false, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return "", true, nil
	}
	loc, err := locationOf(resp)
	return loc, false, err
}

// PutBlob uploads the whole blob in the PUT that closes session loc.
func (r *Repository) PutBlob(ctx context.Context, loc string, d digest.Digest, size int64, body io.Reader) error {
	req, err := r.newRequest(ctx, http.MethodPut, withDigest(loc, d), body, size)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := r.do(req, http.StatusCreated)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Patch sends size bytes of body as the chunk starting at offset and
// returns the session's next location.
func (r *Repository) Patch(ctx context.Context, loc string, offset, size int64, body io.Reader) (string, error) {
	req, err := r.newRequest(ctx, http.MethodPatch, loc, body, size)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", offset, offset+size-1))
	resp, err := r.do(req, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return locationOf(resp)
}

// UploadStatus asks how much of session loc the registry has: next is the
// offset of the first missing byte.
func (r *Repository) UploadStatus(ctx context.Context, loc string) (newLoc string, next int64, err error) {
	req, err := r.newRequest(ctx, http.MethodGet, loc, nil, 0)
	if err != nil {
		return "", 0, err
	}
	resp, err := r.do(req, http.StatusNoContent, http.StatusAccepted)
	if err != nil {
		return "", 0, err
	}
	resp.Body.Close()
	if rg := resp.Header.Get("Range"); rg != "" {
		rg = strings.TrimPrefix(rg, "bytes=")
		_, end, ok := strings.Cut(rg, "-")
		n, err := strconv.ParseInt(end, 10, 64)
		if !ok || err != nil {
			return "", 0, fmt.Errorf("upload status: bad Range %q", resp.Header.Get("Range"))
		}
		next = n + 1
		if rg == "0-0" {
			// What registries send for an empty session (and, ambiguously,
			// for one byte): start over from 0.
			next = 0
		}
	}
	newLoc, err = locationOf(resp)
	if err != nil {
		newLoc, err = loc, nil
	}
	return newLoc, next, nil
}

// Finish closes session loc: the blob is d.
func (r *Repository) Finish(ctx context.Context, loc string, d digest.Digest) error {
	return r.PutBlob(ctx, loc, d, 0, nil)
}

// CancelUpload deletes session loc (best effort).
func (r *Repository) CancelUpload(ctx context.Context, loc string) {
	req, err := r.newRequest(ctx, http.MethodDelete, loc, nil, 0)
	if err != nil {
		return
	}
	if resp, err := r.c.hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

// location resolves the Location header of resp against its request URL.
func locationOf(resp *http.Response) (string, error) {
	l := resp.Header.Get("Location")
	if l == "" {
		return "", fmt.Errorf("%s %s: %s without Location", resp.Request.Method, resp.Request.URL.Redacted(), resp.Status)
	}
	u, err := resp.Request.URL.Parse(l)
	if err != nil {
		return "", fmt.Errorf("Location %q: %w", l, err)
	}
	return u.String(), nil
}

func withDigest(loc string, d digest.Digest) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + url.QueryEscape(d.String())
}

// Error is a response with an unexpected status.
type Error struct {
	Method, URL string
	Status      int
	// Codes and Message come from the OCI error envelope, when there is
	// one.
	Codes   []string
	Message string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if len(e.Codes) > 0 {
		s += ": " + strings.Join(e.Codes, ", ")
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Temporary reports whether retrying may help: 408, 429 and 5xx except
// 501 and 505.
func (e *Error) Temporary() bool {
	switch e.Status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func newError(req *http.Request, resp *http.Response) *Error {
	e := &Error{Method: req.Method, URL: req.URL.Redacted(), Status: resp.StatusCode}
	if i := strings.IndexByte(e.URL, '?'); i >= 0 {
		e.URL = e.URL[:i]
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &env) == nil {
		for _, x := range env.Errors {
			e.Codes = append(e.Codes, x.Code)
			if e.Message == "" {
				e.Message = x.Message
			}
		}
	}
	return e
}

// Temporary reports whether err is worth retrying: a temporary *Error, a
// broken or refused connection, a timeout. A cancelled context is not, nor
// is what waiting does not change: a host name that does not resolve, a
// certificate that does not verify, an HTTP server asked for HTTPS.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || permanent(err) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// "with Body length": a request re-sent after a token refresh (on a
	// 401 mid-push) whose body was already consumed; sent again from the
	// source, it goes through.
	msg := err.Error()
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") || strings.Contains(msg, "with Body length")
}

// permanent reports network errors that a retry does not cure.
func permanent(err error) bool {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsNotFound || (!de.IsTimeout && !de.IsTemporary)
	}
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &rh) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
