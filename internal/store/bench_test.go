package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/storetest"
)

const benchBlobSize = 64 << 20

// benchPattern is cycled to make blob content cheaply; each blob is made
// distinct by a stamp in its first bytes, so no upload is deduplicated.
var benchPattern = storetest.Payload(1, 1<<20)

// cycleReader yields n bytes: stamp, then benchPattern repeated.
type cycleReader struct {
	stamp [8]byte
	off   int64
	n     int64
}

func newCycle(i uint64, n int64) *cycleReader {
	r := &cycleReader{n: n}
	binary.LittleEndian.PutUint64(r.stamp[:], i)
	return r
}

func (r *cycleReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	k := 0
	for k < len(p) {
		pos := r.off + int64(k)
		var c int
		if pos < int64(len(r.stamp)) {
			c = copy(p[k:], r.stamp[pos:])
		} else {
			c = copy(p[k:], benchPattern[pos%int64(len(benchPattern)):])
		}
		k += c
	}
	r.off += int64(k)
	return k, nil
}

func cycleDigest(i uint64, n int64) digest.Digest {
	h := sha256.New()
	io.Copy(h, newCycle(i, n))
	return digest.NewDigest(digest.SHA256, h)
}

func benchStore(b *testing.B) *store.Store {
	s, err := store.Open(b.Context(), store.Options{Root: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPutBlob: a monolithic upload of a 64 MiB blob, streamed (hash,
// stage, fsync, rename, metadata commit).
func BenchmarkPutBlob(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	b.SetBytes(benchBlobSize)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := cycleDigest(uint64(i), benchBlobSize)
		b.StartTimer()
		if _, err := s.PutBlob(ctx, "bench/put", d, benchBlobSize, newCycle(uint64(i), benchBlobSize)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Backend().Delete(ctx, d) // keep the disk footprint flat
		b.StartTimer()
	}
}

// BenchmarkChunkedUpload: a 64 MiB blob in 8 MiB chunks (each chunk: resume
// the staged file and hash state, append, record the new state).
func BenchmarkChunkedUpload(b *testing.B) {
	const chunk = 8 << 20
	s := benchStore(b)
	ctx := b.Context()
	b.SetBytes(benchBlobSize)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := cycleDigest(uint64(i), benchBlobSize)
		r := newCycle(uint64(i), benchBlobSize)
		b.StartTimer()
		u, err := s.StartUpload(ctx, "bench/chunked")
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < benchBlobSize; off += chunk {
			if _, err := s.AppendUpload(ctx, "bench/chunked", u.ID, off, chunk, io.LimitReader(r, chunk)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.FinishUpload(ctx, "bench/chunked", u.ID, d, -1, -1, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Backend().Delete(ctx, d)
		b.StartTimer()
	}
}

// BenchmarkOpenBlob: reading a 64 MiB blob whole.
func BenchmarkOpenBlob(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	d := cycleDigest(0, benchBlobSize)
	if _, err := s.PutBlob(ctx, "bench/open", d, benchBlobSize, newCycle(0, benchBlobSize)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchBlobSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rc, err := s.OpenBlob(ctx, "bench/open", d, 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != benchBlobSize {
			b.Fatalf("read %d bytes, %v", n, err)
		}
	}
}

// benchManifestSetup pushes a config and a layer to repo and returns a small
// image manifest referencing them, as a format whose %d makes each distinct.
func benchManifestSetup(b *testing.B, s *store.Store, repo string) string {
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := storetest.Payload(2, 4096)
	for _, blob := range [][]byte{config, layer} {
		if _, err := s.PutBlob(b.Context(), repo, digest.FromBytes(blob), int64(len(blob)), bytes.NewReader(blob)); err != nil {
			b.Fatal(err)
		}
	}
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}],"annotations":{"n":"%%d"}}`,
		v1.MediaTypeImageManifest, v1.MediaTypeImageConfig, digest.FromBytes(config), len(config), v1.MediaTypeImageLayerGzip, digest.FromBytes(layer), len(layer))
}

// BenchmarkPutManifest: small manifests pushed in parallel, each under its
// own tag (validation, reference checks, group-committed metadata write), by
// 8 clients per CPU: a commit's fsync is shared by the writes queued behind
// it, so throughput depends on how many are in flight.
func BenchmarkPutManifest(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	tmpl := benchManifestSetup(b, s, "bench/manifest")
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Appendf(nil, tmpl, i)
			if _, err := s.PutManifest(ctx, "bench/manifest", fmt.Sprint("t", i), v1.MediaTypeImageManifest, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkGetManifestByTag: manifests read by tag in parallel.
func BenchmarkGetManifestByTag(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	tmpl := benchManifestSetup(b, s, "bench/get")
	const tags = 100
	for i := range tags {
		if _, err := s.PutManifest(ctx, "bench/get", fmt.Sprint("t", i), v1.MediaTypeImageManifest, fmt.Appendf(nil, tmpl, i)); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			m, err := s.GetManifest(ctx, "bench/get", fmt.Sprint("t", i%tags))
			if err != nil || len(m.Body) == 0 {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
