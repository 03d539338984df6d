package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestReadRequests: BlobSize from HEAD; Referrers from the referrers API
// (repository "api"), over two Link pages ("paged"), from the fallback tag
// where the API answers 404 (repository "tags"), and none when neither has
// any.
func TestReadRequests(t *testing.T) {
	subject, other := digest.FromString("subject"), digest.FromString("other")
	sbom := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("sbom"), Size: 7, ArtifactType: "application/vnd.example.sbom"}
	index, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{sbom}})
	sig := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("sig"), Size: 9, ArtifactType: "application/vnd.example.sig"}
	index2, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{sig}})
	fallbackTag := "sha256-" + subject.Encoded()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unknown := func(code string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"unknown"}]}`, code)
		}
		switch p := r.URL.Path; {
		case p == "/v2/":
		case p == "/v2/api/blobs/"+subject.String() && r.Method == http.MethodHead:
			w.Header().Set("Content-Length", "42")
		case p == "/v2/api/referrers/"+subject.String():
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			w.Write(index)
		case p == "/v2/paged/referrers/"+subject.String() && r.URL.Query().Get("page") == "":
			w.Header().Set("Link", `</v2/paged/referrers/`+subject.String()+`?page=2>; rel="next"`)
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			w.Write(index)
		case p == "/v2/paged/referrers/"+subject.String() && r.URL.Query().Get("page") == "2":
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			w.Write(index2)
		case p == "/v2/api/referrers/"+other.String():
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
		case p == "/v2/tags/manifests/"+fallbackTag:
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			w.Write(index)
		case strings.Contains(p, "/manifests/"):
			unknown("MANIFEST_UNKNOWN")
		case strings.Contains(p, "/blobs/"):
			unknown("BLOB_UNKNOWN")
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c, err := Dial(ctx, strings.TrimPrefix(srv.URL, "http://"), Options{Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	api, tags, paged := c.Repository("api"), c.Repository("tags"), c.Repository("paged")

	if n, err := api.BlobSize(ctx, subject); err != nil || n != 42 {
		t.Errorf("BlobSize = %d, %v; want 42", n, err)
	}
	if _, err := api.BlobSize(ctx, other); Class(err) != ErrNotFound {
		t.Errorf("BlobSize of a missing blob: %v, want ErrNotFound", err)
	}
	for _, tt := range []struct {
		name string
		repo *Repository
		d    digest.Digest
		want int
	}{
		{"api", api, subject, 1},
		{"api, none", api, other, 0},
		{"fallback tag", tags, subject, 1},
		{"neither", tags, other, 0},
		{"two Link pages", paged, subject, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.repo.Referrers(ctx, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || len(got) != tt.want || (tt.want >= 1 && (got[0].Digest != sbom.Digest || got[0].ArtifactType != sbom.ArtifactType)) ||
				(tt.want == 2 && got[1].Digest != sig.Digest) {
				t.Fatalf("Referrers = %+v, want %d", got, tt.want)
			}
		})
	}
}

func TestClass(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"401", &Error{Status: 401}, ErrAuth},
		{"403", fmt.Errorf("x: %w", &Error{Status: 403}), ErrAuth},
		{"denied code", &Error{Status: 400, Codes: []string{"DENIED"}}, ErrAuth},
		{"token refused", &transport.Error{StatusCode: 401}, ErrAuth},
		{"404", &Error{Status: 404}, ErrNotFound},
		{"name unknown", &Error{Status: 400, Codes: []string{"NAME_UNKNOWN"}}, ErrNotFound},
		{"500", &Error{Status: 500}, nil},
		{"refused", &url.Error{Op: "Get", URL: "http://x/v2/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, ErrUnreachable},
		{"no such host", &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}, ErrUnreachable},
		{"http for https", errors.New("Get https://x/v2/: http: server gave HTTP response to HTTPS client"), ErrUnreachable},
		{"other", errors.New("digest mismatch"), nil},
		{"nil", nil, nil},
	} {
		if got := Class(tt.err); got != tt.want {
			t.Errorf("%s: Class(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestNextLink(t *testing.T) {
	base, _ := url.Parse("http://reg:5000/v2/app/referrers/sha256:abc?n=10")
	for _, tt := range []struct{ header, want string }{
		{"", ""},
		{`</v2/app/referrers/sha256:abc?last=x>; rel="next"`, "http://reg:5000/v2/app/referrers/sha256:abc?last=x"},
		{`<http://reg:5000/v2/app/referrers/sha256:abc?last=y>; rel=next`, "http://reg:5000/v2/app/referrers/sha256:abc?last=y"},
		{`</v2/app/x>; rel="prev", </v2/app/y>; rel="next"`, "http://reg:5000/v2/app/y"},
		{`</v2/app/x>; rel="prev"`, ""},
		{`<http://elsewhere/v2/app/y>; rel="next"`, ""}, // credentials stay with the registry
		{`<https://reg:5000/v2/app/y>; rel="next"`, ""}, // nor change scheme
		{`/v2/app/y; rel="next"`, ""},                   // not a <URI>
	} {
		if got := nextLink(base, tt.header); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}
