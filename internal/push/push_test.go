package push

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/remote"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/testutil"
)

func fixture(t testing.TB, rel string) string { return testutil.Fixture2DFS(t, rel) }

// registry is an in-process dfsreg behind an optional fault injector.
type registry struct {
	srv   *httptest.Server
	h     http.Handler
	host  string
	fault atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
	// requests counts requests by method.
	mu       sync.Mutex
	requests map[string]int
}

func newRegistry(t testing.TB) *registry {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := &registry{requests: map[string]int{}}
	h := serve.New(st, serve.Options{})
	r.h = h
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests[req.Method]++
		r.mu.Unlock()
		if f := r.fault.Load(); f != nil && (*f)(w, req) {
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		r.srv.Close()
		st.Close()
	})
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *registry) count(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[method]
}

func (r *registry) setFault(f func(w http.ResponseWriter, r *http.Request) bool) { r.fault.Store(&f) }

func (r *registry) repo(t testing.TB, name string) *remote.Repository {
	t.Helper()
	c, err := remote.Dial(context.Background(), r.host, remote.Options{PlainHTTP: true, Keychain: authn.NewMultiKeychain()}, remote.PushScope(name))
	if err != nil {
		t.Fatal(err)
	}
	return c.Repository(name)
}

func (r *registry) status(t testing.TB, path string) (int, http.Header) {
	t.Helper()
	resp, err := http.Head(r.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func openLayout(t testing.TB, dir string) *ocilayout.Layout {
	t.Helper()
	l, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestPushFixtureLayouts pushes both fixture layouts: every blob of the
// layout arrives (the allotments too), the tag names the fixture's index;
// pushing again sends no blob byte.
func TestPushFixtureLayouts(t *testing.T) {
	for _, tt := range []struct{ layout, index string }{
		{"tdfs-image", "sha256:74c277537d9fba1c3041a11d378f9b0af7c31e06b8ff32040180ddd361653b24"},
		{"sparse-image", "sha256:6031378c7ab90ff2d2e558bf9708a69b697b5d9bf46c86122ff2852bfb8e179c"},
	} {
		t.Run(tt.layout, func(t *testing.T) {
			dir := fixture(t, tt.layout)
			reg := newRegistry(t)
			img, err := FromLayout(context.Background(), openLayout(t, dir), "v1")
			if err != nil {
				t.Fatal(err)
			}
			var events []Event
			res, err := Push(context.Background(), img, Target{Repo: reg.repo(t, "fx/img"), Tag: "v1"}, Options{ByteProgress: true, Observer: func(e Event) { events = append(events, e) }})
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != tt.index || res.Uploaded != res.Blobs || res.BytesSent != res.BlobBytes {
				t.Fatalf("result %+v", res)
			}
			files, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
			for _, f := range files {
				d := "sha256:" + f.Name()
				path := "/v2/fx/img/blobs/" + d
				if d == tt.index || isManifest(t, filepath.Join(dir, "blobs", "sha256", f.Name())) {
					path = "/v2/fx/img/manifests/" + d
				}
				if st, _ := reg.status(t, path); st != http.StatusOK {
					t.Errorf("HEAD %s: %d", path, st)
				}
			}
			st, h := reg.status(t, "/v2/fx/img/manifests/v1")
			if st != 200 || h.Get("Docker-Content-Digest") != tt.index {
				t.Fatalf("tag v1: %d %s", st, h.Get("Docker-Content-Digest"))
			}
			// A partition works: every allotment is there.
			if st, _ := reg.status(t, "/v2/fx/img/manifests/v1--0.0.9.9"); st != 200 {
				t.Fatalf("partition: %d", st)
			}
			done := 0
			full := map[string]bool{}
			for _, e := range events {
				switch e.Kind {
				case BlobDone:
					done++
				case BlobProgress:
					if e.Bytes == e.Desc.Size {
						full[e.Desc.Digest.String()] = true
					}
				}
			}
			if len(full) != res.Uploaded {
				t.Fatalf("%d blobs reported all their bytes sent, %d uploaded", len(full), res.Uploaded)
			}
			if done != res.Blobs {
				t.Fatalf("%d BlobDone events for %d blobs", done, res.Blobs)
			}

			puts := reg.count(http.MethodPut)
			again, err := Push(context.Background(), img, Target{Repo: reg.repo(t, "fx/img"), Tag: "v1"}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if again.BytesSent != 0 || again.Existing != again.Blobs || again.Uploaded != 0 {
				t.Fatalf("re-push sent blobs: %+v", again)
			}
			if got := reg.count(http.MethodPut) - puts; got != again.Manifests {
				t.Fatalf("re-push made %d PUTs, want only the %d manifests", got, again.Manifests)
			}
		})
	}
}

func isManifest(t testing.TB, path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	json.Unmarshal(b, &probe)
	return probe.MediaType == ocispec.MediaTypeImageManifest || probe.MediaType == ocispec.MediaTypeImageIndex
}

// TestPushMount: a second repository of the same registry mounts the blobs.
func TestPushMount(t *testing.T) {
	reg := newRegistry(t)
	img, err := FromLayout(context.Background(), openLayout(t, fixture(t, "tdfs-image")), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Push(context.Background(), img, Target{Repo: reg.repo(t, "a/one"), Tag: "v1"}, Options{}); err != nil {
		t.Fatal(err)
	}
	for i := range img.Blobs {
		img.Blobs[i].MountFrom = "a/one"
	}
	c, err := remote.Dial(context.Background(), reg.host, remote.Options{PlainHTTP: true, Keychain: authn.NewMultiKeychain()}, remote.PushScope("b/two"), remote.PullScope("a/one"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Push(context.Background(), img, Target{Repo: c.Repository("b/two"), Tag: "v1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mounted != res.Blobs || res.BytesSent != 0 {
		t.Fatalf("mount: %+v", res)
	}
}

// bigLayout writes a layout with one image whose layers are n random blobs
// of size bytes.
func bigLayout(t testing.TB, n int, size int64) string {
	t.Helper()
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	os.MkdirAll(blobs, 0o755)
	put := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: put(cfg), Size: int64(len(cfg))}}
	m.SchemaVersion = 2
	for range n {
		b := make([]byte, size)
		rand.Read(b)
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: put(b), Size: size})
	}
	mb, _ := json.Marshal(m)
	md := put(mb)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "v1"}}}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return dir
}

// TestPushChunkedResumes: chunked uploads survive failed PATCHes (the
// registry answers 503 after taking part of a chunk, or the connection
// drops) by asking the session where to resume; the blob arrives intact.
func TestPushChunkedResumes(t *testing.T) {
	reg := newRegistry(t)
	img, err := FromLayout(context.Background(), openLayout(t, bigLayout(t, 2, 300<<10)), "v1")
	if err != nil {
		t.Fatal(err)
	}
	// The second PATCH of every upload session fails, once: each blob
	// resumes exactly once, and no blob runs out of attempts and starts
	// over (whose earlier chunks, sent and accepted, would count too).
	var mu sync.Mutex
	patches := map[string]int{}
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPatch {
			return false
		}
		mu.Lock()
		patches[r.URL.Path]++
		nth := patches[r.URL.Path]
		mu.Unlock()
		if nth != 2 {
			return false
		}
		// Fail it before the registry sees it.
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}`))
		return true
	})
	res, err := Push(context.Background(), img, Target{Repo: reg.repo(t, "big/img"), Tag: "v1"}, Options{ChunkSize: 64 << 10, Backoff: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Retries == 0 || res.Uploaded != res.Blobs {
		t.Fatalf("result %+v", res)
	}
	if res.BytesSent != res.BlobBytes {
		t.Fatalf("BytesSent %d, want %d: a failed chunk is not sent", res.BytesSent, res.BlobBytes)
	}
	for _, b := range img.Blobs {
		resp, err := http.Get(reg.srv.URL + "/v2/big/img/blobs/" + b.Desc.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if digest.FromBytes(got) != b.Desc.Digest {
			t.Fatalf("blob %s arrived corrupted (%d bytes)", b.Desc.Digest, len(got))
		}
	}
}

// TestPushInterrupted: a push cancelled halfway leaves no tag; the next
// push skips the blobs that arrived and completes.
func TestPushInterrupted(t *testing.T) {
	reg := newRegistry(t)
	img, err := FromLayout(context.Background(), openLayout(t, bigLayout(t, 8, 256<<10)), "v1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var done atomic.Int64
	_, err = Push(ctx, img, Target{Repo: reg.repo(t, "int/img"), Tag: "v1"}, Options{Jobs: 2, Observer: func(e Event) {
		if e.Kind == BlobDone && done.Add(1) == 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if st, _ := reg.status(t, "/v2/int/img/manifests/v1"); st != http.StatusNotFound {
		t.Fatalf("tag after an interrupted push: %d", st)
	}
	res, err := Push(context.Background(), img, Target{Repo: reg.repo(t, "int/img"), Tag: "v1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Existing < 3 || res.Existing+res.Uploaded != res.Blobs || res.BytesSent >= res.BlobBytes {
		t.Fatalf("resume: %+v", res)
	}
	if st, _ := reg.status(t, "/v2/int/img/manifests/v1"); st != http.StatusOK {
		t.Fatalf("tag after the resumed push: %d", st)
	}
}

// TestPushPermanentError: a 4xx that is not transient stops the push at
// once, without retries and without a tag.
func TestPushPermanentError(t *testing.T) {
	reg := newRegistry(t)
	img, err := FromLayout(context.Background(), openLayout(t, bigLayout(t, 1, 1024)), "v1")
	if err != nil {
		t.Fatal(err)
	}
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":[{"code":"DENIED","message":"no pushing here"}]}`))
		return true
	})
	res, err := Push(context.Background(), img, Target{Repo: reg.repo(t, "deny/img"), Tag: "v1"}, Options{Backoff: 1})
	var re *remote.Error
	if !errors.As(err, &re) || re.Status != 403 || !strings.Contains(err.Error(), "DENIED") {
		t.Fatalf("err = %v", err)
	}
	if res.Retries != 0 {
		t.Fatalf("%d retries of a 403", res.Retries)
	}
	if st, _ := reg.status(t, "/v2/deny/img/manifests/v1"); st != http.StatusNotFound {
		t.Fatalf("tag: %d", st)
	}
}

// relocate tags the Location of every answer with the PATCH's number, as
// registries that keep upload state in the location do.
type relocate struct {
	http.ResponseWriter
	n int64
}

func (w relocate) WriteHeader(code int) {
	if l := w.Header().Get("Location"); l != "" {
		w.Header().Set("Location", l+"?state="+strconv.FormatInt(w.n, 10))
	}
	w.ResponseWriter.WriteHeader(code)
}

// TestPushCancelsLatestLocation: when a chunked upload fails for good,
// the session is cancelled at the location the last PATCH answered, not
// the one the upload started with (distribution refuses that one).
func TestPushCancelsLatestLocation(t *testing.T) {
	reg := newRegistry(t)
	img, err := FromLayout(context.Background(), openLayout(t, bigLayout(t, 1, 300<<10)), "v1")
	if err != nil {
		t.Fatal(err)
	}
	var patches atomic.Int64
	var mu sync.Mutex
	var lastPatch string
	var deleted []string // the push aborting may cancel other sessions too
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch r.Method {
		case http.MethodDelete:
			mu.Lock()
			deleted = append(deleted, r.URL.RequestURI())
			mu.Unlock()
		case http.MethodPatch:
			mu.Lock()
			lastPatch = r.URL.RequestURI()
			mu.Unlock()
			n := patches.Add(1)
			if n < 3 {
				reg.h.ServeHTTP(relocate{w, n}, r)
				return true
			}
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"no"}]}`))
			return true
		}
		return false
	})
	_, err = Push(context.Background(), img, Target{Repo: reg.repo(t, "cancel/img"), Tag: "v1"}, Options{ChunkSize: 64 << 10, Backoff: 1})
	if err == nil {
		t.Fatal("push succeeded through a refused PATCH")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasSuffix(lastPatch, "?state=2") || !slices.Contains(deleted, lastPatch) {
		t.Fatalf("cancelled %q, want the latest location %q among them", deleted, lastPatch)
	}
}
