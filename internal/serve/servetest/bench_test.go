package servetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// The benchmarks go through the API handler: ServeHTTP directly for the
// manifest paths (what the handler and the store cost, without sockets),
// and also a real HTTP server for blobs (where sendfile matters).

const benchRepo = "bench/app"

func newBenchAPI(b *testing.B) http.Handler {
	b.Helper()
	st, err := store.Open(context.Background(), store.Options{Root: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return serve.New(st, serve.Options{})
}

// benchDo sends one request to h and fails unless the status is want.
func benchDo(b *testing.B, h http.Handler, method, target, contentType string, body []byte, want int) *httptest.ResponseRecorder {
	b.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: %d, want %d: %s", method, target, rec.Code, want, rec.Body.Bytes())
	}
	return rec
}

func benchPushBlob(b *testing.B, h http.Handler, bl blob) {
	b.Helper()
	benchDo(b, h, "POST", "/v2/"+benchRepo+"/blobs/uploads/?digest="+bl.d.String(), "application/octet-stream", bl.b, http.StatusCreated)
}

// benchImage pushes a config and a layer and tags an OCI manifest of them
// "latest"; it returns the manifest.
func benchImage(b *testing.B, h http.Handler) blob {
	b.Helper()
	cfg := newBlob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := newBlob(pattern(64<<10, 7))
	benchPushBlob(b, h, cfg)
	benchPushBlob(b, h, layer)
	m := newBlob(mustJSON(manifestOf(mtManifest, cfg.desc(mtConfig), layer.desc(mtLayer))))
	benchDo(b, h, "PUT", "/v2/"+benchRepo+"/manifests/latest", mtManifest, m.b, http.StatusCreated)
	return m
}

// discard is a ResponseWriter that keeps only the status, so the
// benchmarks measure the handler rather than a recorder.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(io.Discard, r)
}

func (d *discard) reset() {
	clear(d.h)
	d.code = 0
}

func benchManifestGet(b *testing.B, method string) {
	h := newBenchAPI(b)
	m := benchImage(b, h)
	req := httptest.NewRequest(method, "/v2/"+benchRepo+"/manifests/latest", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	if got := w.h.Get("Docker-Content-Digest"); got != m.d.String() {
		b.Fatalf("Docker-Content-Digest %s, want %s", got, m.d)
	}
}

func BenchmarkManifestGetByTag(b *testing.B)  { benchManifestGet(b, http.MethodGet) }
func BenchmarkManifestHeadByTag(b *testing.B) { benchManifestGet(b, http.MethodHead) }

// manifestBodies makes distinct manifests of the bench image (an
// annotation counts), as a pushing client would.
type manifestBodies struct {
	prefix, suffix []byte
	n              atomic.Int64
}

func newManifestBodies(b *testing.B, h http.Handler) *manifestBodies {
	m := benchImage(b, h)
	// m ends in "}": insert an annotation before it.
	body := m.b[:len(m.b)-1]
	return &manifestBodies{prefix: append(body[:len(body):len(body)], `,"annotations":{"n":"`...), suffix: []byte(`"}}`)}
}

func (mb *manifestBodies) next() []byte {
	i := mb.n.Add(1)
	out := make([]byte, 0, len(mb.prefix)+20+len(mb.suffix))
	out = append(out, mb.prefix...)
	out = strconv.AppendInt(out, i, 10)
	return append(out, mb.suffix...)
}

func benchPut(h http.Handler, body []byte, w *discard) error {
	req, err := http.NewRequest(http.MethodPut, "/v2/"+benchRepo+"/manifests/latest", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mtManifest)
	w.reset()
	h.ServeHTTP(w, req)
	if w.code != http.StatusCreated {
		return fmt.Errorf("PUT manifest: status %d", w.code)
	}
	return nil
}

// BenchmarkManifestPut pushes a new manifest to a tag per iteration, one
// at a time: every PUT waits for its own durable commit.
func BenchmarkManifestPut(b *testing.B) {
	h := newBenchAPI(b)
	mb := newManifestBodies(b, h)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		if err := benchPut(h, mb.next(), w); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkManifestPutParallel is BenchmarkManifestPut from concurrent
// clients, whose commits the store can group.
func BenchmarkManifestPutParallel(b *testing.B) {
	h := newBenchAPI(b)
	mb := newManifestBodies(b, h)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		w := &discard{h: http.Header{}}
		for pb.Next() {
			if err := benchPut(h, mb.next(), w); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBlobGet reads a 1 MiB blob whole.
func BenchmarkBlobGet(b *testing.B) {
	h := newBenchAPI(b)
	bl := newBlob(pattern(1<<20, 9))
	benchPushBlob(b, h, bl)
	target := "/v2/" + benchRepo + "/blobs/" + bl.d.String()

	b.Run("handler", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		w := &discard{h: http.Header{}}
		b.SetBytes(int64(len(bl.b)))
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
	})

	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := srv.Client()
		b.SetBytes(int64(len(bl.b)))
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(srv.URL + target)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(bl.b)) {
				b.Fatalf("status %d, %d bytes, %v", resp.StatusCode, n, err)
			}
		}
	})
}
