package serve_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/testutil"
)

// 2DFS over HTTP: the dense fixture pushed the way `tdfs image push` does,
// semantic tags fetched like clients fetch them.

const tdfsAccept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"

func tdfsFixture(t testing.TB, layout string) string {
	t.Helper()
	// Skips when the layout's index.json is not there.
	return filepath.Dir(testutil.Fixture2DFS(t, layout, "index.json"))
}

// tdfsServer is a dfsreg API on a real loopback server over a new store.
func tdfsServer(t testing.TB) (*httptest.Server, string) {
	t.Helper()
	root := t.TempDir()
	st, err := store.Open(context.Background(), store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.New(st, serve.Options{}))
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return srv, root
}

// tdfsDo sends one request and returns the response with its body read.
func tdfsDo(t testing.TB, method, u string, hdr http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func tdfsWant(t testing.TB, what string, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", what, resp.StatusCode, status, body)
	}
}

// tdfsPushBlob uploads a blob as tdfs does: POST, then PUT with the body.
func tdfsPushBlob(t testing.TB, base, repo string, b []byte) {
	t.Helper()
	resp, body := tdfsDo(t, "POST", base+"/v2/"+repo+"/blobs/uploads/", nil, nil)
	tdfsWant(t, "POST upload", resp, body, http.StatusAccepted)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", digest.FromBytes(b).String())
	loc.RawQuery = q.Encode()
	target := base + loc.String()
	if loc.IsAbs() {
		target = loc.String()
	}
	resp, body = tdfsDo(t, "PUT", target, http.Header{"Content-Type": {"application/octet-stream"}}, b)
	tdfsWant(t, "PUT upload", resp, body, http.StatusCreated)
}

// tdfsPushLayout pushes every blob file of an OCI layout, each child of its
// v1 index under its bare hex digest, then the index by tag.
func tdfsPushLayout(t testing.TB, base, layout, repo, tag string) ocispec.Descriptor {
	t.Helper()
	dir := filepath.Join(layout, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		tdfsPushBlob(t, base, repo, tdfsFile(t, dir, e.Name()))
	}
	var top ocispec.Index
	if err := json.Unmarshal(tdfsFile(t, layout, "index.json"), &top); err != nil {
		t.Fatal(err)
	}
	idxDesc := top.Manifests[0]
	idxBody := tdfsFile(t, dir, idxDesc.Digest.Encoded())
	var idx ocispec.Index
	if err := json.Unmarshal(idxBody, &idx); err != nil {
		t.Fatal(err)
	}
	for _, c := range idx.Manifests {
		resp, body := tdfsDo(t, "PUT", base+"/v2/"+repo+"/manifests/"+c.Digest.Encoded(),
			http.Header{"Content-Type": {c.MediaType}}, tdfsFile(t, dir, c.Digest.Encoded()))
		tdfsWant(t, "PUT child", resp, body, http.StatusCreated)
		if got := resp.Header.Get("Docker-Content-Digest"); got != c.Digest.String() {
			t.Fatalf("child digest %s, want %s", got, c.Digest)
		}
	}
	resp, body := tdfsDo(t, "PUT", base+"/v2/"+repo+"/manifests/"+tag, http.Header{"Content-Type": {idxDesc.MediaType}}, idxBody)
	tdfsWant(t, "PUT index", resp, body, http.StatusCreated)
	return idxDesc
}

func tdfsFile(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tdfsGetManifest(t testing.TB, base, repo, ref string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("Accept", tdfsAccept)
	return tdfsDo(t, "GET", base+"/v2/"+repo+"/manifests/"+ref, hdr, nil)
}

func TestTDFSSemanticTagsOverHTTP(t *testing.T) {
	layout := tdfsFixture(t, "tdfs-image")
	srv, _ := tdfsServer(t)
	src := tdfsPushLayout(t, srv.URL, layout, "fixture/dense", "v1")

	type answer struct {
		status        int
		digest, ctype string
		length        string
	}
	refs := []string{
		"v1", "v1--0.0.0.0", "v1--0.0.1.1", "v1--0.0.1.1--0.0.0.0", "v1--0.0.9.9", "v1--5.5.9.9",
		"v1--1.0.0.0", "v1--0.2.2.0", "v1--0.0.1.1junk", "v1--0.0.1", "v2--0.0.0.0",
		"v1--99999999999999999999.0.1.1", "sha256:" + strings.Repeat("0", 64),
	}
	got := map[string]answer{}
	for _, ref := range refs {
		// GET first for half of them, HEAD first for the others: the
		// first request computes, and both must agree either way.
		methods := []string{"GET", "HEAD"}
		if len(got)%2 == 1 {
			methods = []string{"HEAD", "GET"}
		}
		var as [2]answer
		var getBody []byte
		for i, m := range methods {
			resp, body := tdfsDo(t, m, srv.URL+"/v2/fixture/dense/manifests/"+ref, http.Header{"Accept": {tdfsAccept}}, nil)
			as[i] = answer{resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length")}
			if resp.StatusCode != http.StatusOK {
				// Errors: the body is the envelope, which HEAD omits
				// with its length.
				as[i].length = ""
			}
			if m == "GET" {
				getBody = body
			} else if len(body) != 0 {
				t.Errorf("HEAD %s: %d body bytes", ref, len(body))
			}
		}
		if as[0] != as[1] {
			t.Errorf("%s: %s %+v, %s %+v", ref, methods[0], as[0], methods[1], as[1])
		}
		a := as[0]
		if a.status == http.StatusOK {
			sum := sha256.Sum256(getBody)
			if "sha256:"+hex.EncodeToString(sum[:]) != a.digest || strconv.Itoa(len(getBody)) != a.length {
				t.Errorf("%s: body does not match Docker-Content-Digest %s / Content-Length %s", ref, a.digest, a.length)
			}
		}
		got[ref] = a
	}
	wantStatus := map[string]int{"v1--1.0.0.0": 400, "v1--0.2.2.0": 400, "v1--0.0.1.1junk": 404, "v1--0.0.1": 404,
		"v2--0.0.0.0": 404, "v1--99999999999999999999.0.1.1": 404, "sha256:" + strings.Repeat("0", 64): 404}
	for _, ref := range refs {
		want, ok := wantStatus[ref]
		if !ok {
			want = 200
		}
		if got[ref].status != want {
			t.Errorf("%s: status %d, want %d", ref, got[ref].status, want)
		}
	}
	if got["v1"].digest != src.Digest.String() {
		t.Errorf("plain tag: %s, want the stored index %s", got["v1"].digest, src.Digest)
	}
	if got["v1--0.0.1.1"].digest != got["v1--0.0.1.1--0.0.0.0"].digest {
		t.Errorf("overlapping rects: %s vs %s", got["v1--0.0.1.1"].digest, got["v1--0.0.1.1--0.0.0.0"].digest)
	}
	if got["v1--0.0.1.1"].digest == src.Digest.String() || got["v1--0.0.1.1"].ctype != ocispec.MediaTypeImageIndex {
		t.Errorf("partition: %+v", got["v1--0.0.1.1"])
	}

	// If-None-Match compares with the served digest, not the base's.
	served := got["v1--0.0.1.1"].digest
	for _, inm := range []string{served, `"` + served + `"`, `W/"` + served + `"`} {
		resp, body := tdfsGetManifest(t, srv.URL, "fixture/dense", "v1--0.0.1.1", http.Header{"If-None-Match": {inm}})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("Docker-Content-Digest") != served {
			t.Errorf("If-None-Match %s: %d (%d bytes) %s", inm, resp.StatusCode, len(body), resp.Header.Get("Docker-Content-Digest"))
		}
	}
	resp, body := tdfsGetManifest(t, srv.URL, "fixture/dense", "v1--0.0.1.1", http.Header{"If-None-Match": {`"` + src.Digest.String() + `"`}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != served || len(body) == 0 {
		t.Errorf("If-None-Match with the base digest: %d %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}

	// What a client does next: children by digest (platform kept), their
	// configs and layers as blobs.
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"amd64", "arm64"} {
		c := idx.Manifests[i]
		if c.Platform == nil || c.Platform.Architecture != want || c.Platform.OS != "linux" {
			t.Errorf("entry %d: platform %+v, want linux/%s", i, c.Platform, want)
		}
		resp, mb := tdfsGetManifest(t, srv.URL, "fixture/dense", c.Digest.String(), nil)
		tdfsWant(t, "child by digest", resp, mb, http.StatusOK)
		if digest.FromBytes(mb) != c.Digest {
			t.Fatalf("child %s: body does not match", c.Digest)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(mb, &m); err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) != 6 {
			t.Errorf("child %s: %d layers, want 2 base + 4 allotments", c.Digest, len(m.Layers))
		}
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			resp, bb := tdfsDo(t, "GET", srv.URL+"/v2/fixture/dense/blobs/"+d.Digest.String(), nil, nil)
			tdfsWant(t, "blob "+d.Digest.String(), resp, bb, http.StatusOK)
			if digest.FromBytes(bb) != d.Digest || int64(len(bb)) != d.Size {
				t.Errorf("blob %s: %d bytes, wrong content", d.Digest, len(bb))
			}
		}
	}
}

// dfsreg partition computes what serve answers: the same code on the same
// bytes. Here from the OCI layout the image was pushed from.
func TestTDFSOfflineMatchesServe(t *testing.T) {
	ctx := context.Background()
	layout := tdfsFixture(t, "tdfs-image")
	srv, _ := tdfsServer(t)
	tdfsPushLayout(t, srv.URL, layout, "fixture/dense", "v1")
	l, err := ocilayout.Open(layout)
	if err != nil {
		t.Fatal(err)
	}
	img, err := l.Find(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"v1--0.0.0.0", "v1--0.0.1.1", "v1--1.1.2.2--0.0.0.0", "v1--5.5.9.9", "v1--0.0.9.9"} {
		_, sel, _, _ := partition.ParseRef(ref)
		res, err := flatten.Flatten(ctx, l, img.Descriptor.MediaType, img.Body, sel)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := tdfsGetManifest(t, srv.URL, "fixture/dense", ref, nil)
		tdfsWant(t, ref, resp, body, http.StatusOK)
		if !bytes.Equal(body, res.Top.Data) {
			t.Errorf("%s: serve %s, offline %s", ref, resp.Header.Get("Docker-Content-Digest"), res.Top.Digest)
		}
		for _, b := range res.Blobs()[:len(res.Blobs())-1] {
			kind := "manifests"
			if b.MediaType == ocispec.MediaTypeImageConfig {
				kind = "blobs"
			}
			resp, sb := tdfsDo(t, "GET", srv.URL+"/v2/fixture/dense/"+kind+"/"+b.Digest.String(), http.Header{"Accept": {tdfsAccept}}, nil)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(sb, b.Data) {
				t.Errorf("%s: %s %s: %d, bytes differ", ref, kind, b.Digest, resp.StatusCode)
			}
		}
	}
	// flatten = the whole field = any rectangle covering it.
	res, err := flatten.Flatten(ctx, l, img.Descriptor.MediaType, img.Body, partition.All())
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := tdfsGetManifest(t, srv.URL, "fixture/dense", "v1--0.0.2.2", nil)
	if got := resp.Header.Get("Docker-Content-Digest"); got != res.Top.Digest.String() {
		t.Errorf("flatten %s, serve v1--0.0.2.2 %s", res.Top.Digest, got)
	}
}

// 32 parallel first GETs of one new partition: one digest, one stored
// result.
func TestTDFSConcurrentFirstGets(t *testing.T) {
	layout := tdfsFixture(t, "tdfs-image")
	srv, root := tdfsServer(t)
	tdfsPushLayout(t, srv.URL, layout, "fixture/dense", "v1")
	const n = 32
	digests := make([]string, n)
	statuses := make([]int, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			req, _ := http.NewRequest("GET", srv.URL+"/v2/fixture/dense/manifests/v1--0.1.2.2", nil)
			req.Header.Set("Accept", tdfsAccept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			statuses[i] = resp.StatusCode
			if resp.StatusCode == http.StatusOK && digest.FromBytes(b).String() == resp.Header.Get("Docker-Content-Digest") {
				digests[i] = resp.Header.Get("Docker-Content-Digest")
			}
		}()
	}
	start.Done()
	done.Wait()
	for i := range n {
		if statuses[i] != http.StatusOK || digests[i] == "" || digests[i] != digests[0] {
			t.Fatalf("request %d: status %d digest %q (request 0: %q)", i, statuses[i], digests[i], digests[0])
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(root, store.DBFile))+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	var result string
	if err := db.QueryRow(`SELECT COUNT(*), MAX(result) FROM partitions`).Scan(&rows, &result); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || result != digests[0] {
		t.Errorf("partitions: %d rows, result %s; want 1 row, %s", rows, result, digests[0])
	}
}

// --- benchmarks ------------------------------------------------------------

// tdfsSynthetic pushes a 2-platform 2DFS image with a 64x64 field (4096
// allotments, each a real small blob) as bench/tdfs:v1, through h.
func tdfsSynthetic(b *testing.B, h http.Handler) {
	b.Helper()
	const repo, side = "bench/tdfs", 64
	push := func(data []byte) {
		req := httptest.NewRequest("POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(data).String(), bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/octet-stream")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			panic(fmt.Sprintf("push blob: %d %s", w.Code, w.Body))
		}
	}
	// The allotments, pushed by 8 workers so the store can group commits.
	var field bytes.Buffer
	field.WriteString(`{"rows":[`)
	work := make(chan []byte)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for data := range work {
				push(data)
			}
		}()
	}
	for r := range side {
		if r > 0 {
			field.WriteByte(',')
		}
		field.WriteString(`{"allotments":[`)
		for c := range side {
			data := fmt.Appendf(nil, "allotment %d,%d of the synthetic 64x64 2DFS image", r, c)
			diff := sha256.Sum256(append([]byte("diff "), data...))
			if c > 0 {
				field.WriteByte(',')
			}
			fmt.Fprintf(&field, `{"row":%d,"col":%d,"digest":"%s","diffid":"%s"}`, r, c, digest.FromBytes(data).Encoded(), hex.EncodeToString(diff[:]))
			work <- data
		}
		fmt.Fprintf(&field, `],"allotments_size":%d}`, side)
	}
	fmt.Fprintf(&field, `],"rows_size":%d,"owner":""}`, side)
	close(work)
	wg.Wait()
	push(field.Bytes())
	fieldDesc := ocispec.Descriptor{MediaType: partition.FieldMediaType, Digest: digest.FromBytes(field.Bytes()), Size: int64(field.Len())}

	put := func(ref, mt string, body []byte) {
		req := httptest.NewRequest("PUT", "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
		req.Header.Set("Content-Type", mt)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("PUT %s: %d %s", ref, w.Code, w.Body)
		}
	}
	var entries []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		layer := bytes.Repeat([]byte(arch), 1024)
		push(layer)
		cfg := fmt.Appendf(nil, `{"architecture":%q,"os":"linux","config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created_by":"base"}]}`, arch, digest.FromBytes(layer))
		push(cfg)
		m, _ := json.Marshal(ocispec.Manifest{
			Versioned: tdfsVersioned,
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
			Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}, fieldDesc},
		})
		put(digest.FromBytes(m).Encoded(), ocispec.MediaTypeImageManifest, m)
		entries = append(entries, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m)),
			Platform: &ocispec.Platform{OS: "linux", Architecture: arch}})
	}
	idx, _ := json.Marshal(ocispec.Index{Versioned: tdfsVersioned, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries,
		Annotations: map[string]string{"2dfs.image.name": "bench/tdfs:v1"}})
	put("v1", ocispec.MediaTypeImageIndex, idx)
}

var tdfsVersioned = specs.Versioned{SchemaVersion: 2}

func tdfsBenchAPI(b *testing.B) http.Handler {
	b.Helper()
	st, err := store.Open(context.Background(), store.Options{Root: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	h := serve.New(st, serve.Options{})
	tdfsSynthetic(b, h)
	return h
}

// tdfsDiscard is a ResponseWriter keeping only the status and headers.
type tdfsDiscard struct {
	h    http.Header
	code int
	n    int
}

func (d *tdfsDiscard) Header() http.Header         { return d.h }
func (d *tdfsDiscard) WriteHeader(code int)        { d.code = code }
func (d *tdfsDiscard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

func tdfsBenchGet(b *testing.B, h http.Handler, ref string) {
	req := httptest.NewRequest("GET", "/v2/bench/tdfs/manifests/"+ref, nil)
	req.Header.Set("Accept", tdfsAccept)
	w := &tdfsDiscard{h: http.Header{}}
	h.ServeHTTP(w, req) // warm: the partition exists after this
	if w.code != http.StatusOK {
		b.Fatalf("GET %s: %d", ref, w.code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.code, w.n = 0, 0
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("GET %s: %d", ref, w.code)
		}
	}
	b.ReportMetric(float64(w.n), "body-bytes")
}

// GET of the plain tag of a 2DFS image (the stored index).
func BenchmarkManifestGetPlainTag(b *testing.B) {
	tdfsBenchGet(b, tdfsBenchAPI(b), "v1")
}

// GET of a semantic tag whose partition is remembered (4096-allotment
// field; half of it selected). Target: within 1.2x of the plain tag.
func BenchmarkManifestGetSemanticTagWarm(b *testing.B) {
	tdfsBenchGet(b, tdfsBenchAPI(b), "v1--0.0.31.63")
}

// The two GETs above, interleaved in one loop so that load from elsewhere
// on the machine weighs on both alike; reports each one's time per request
// and their ratio (target: at most 1.2).
func BenchmarkManifestGetSemanticVsPlain(b *testing.B) {
	h := tdfsBenchAPI(b)
	reqs := make([]*http.Request, 2)
	for i, ref := range []string{"v1", "v1--0.0.31.63"} {
		reqs[i] = httptest.NewRequest("GET", "/v2/bench/tdfs/manifests/"+ref, nil)
		reqs[i].Header.Set("Accept", tdfsAccept)
		h.ServeHTTP(&tdfsDiscard{h: http.Header{}}, reqs[i]) // warm
	}
	w := &tdfsDiscard{h: http.Header{}}
	var spent [2]time.Duration
	b.ReportAllocs()
	for b.Loop() {
		for i, req := range reqs {
			clear(w.h)
			w.code = 0
			start := time.Now()
			h.ServeHTTP(w, req)
			spent[i] += time.Since(start)
			if w.code != http.StatusOK {
				b.Fatalf("GET %s: %d", req.URL.Path, w.code)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(spent[0].Nanoseconds())/n, "plain-ns/get")
	b.ReportMetric(float64(spent[1].Nanoseconds())/n, "semantic-ns/get")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "semantic/plain")
}

// First GET of a semantic tag: each iteration a new selection, so the
// partition is really computed and stored. Target: under 20 ms.
func BenchmarkPartitionCold(b *testing.B) {
	h := tdfsBenchAPI(b)
	for _, bc := range []struct {
		name string
		ref  func(i int) string
	}{
		// A 4x4 corner plus one distinct cell: 17 allotments.
		{"cells=17", func(i int) string { return fmt.Sprintf("v1--0.0.3.3--%d.%d.%d.%d", 4+i/64%60, i%64, 4+i/64%60, i%64) }},
		// Half the field plus one distinct cell: 2049 allotments.
		{"cells=2049", func(i int) string {
			return fmt.Sprintf("v1--0.0.31.63--%d.%d.%d.%d", 32+i/64%32, i%64, 32+i/64%32, i%64)
		}},
		// The whole field, plus a distinct out-of-field cell so the
		// selection key is new: 4096 allotments.
		{"cells=4096", func(i int) string { return fmt.Sprintf("v1--0.0.63.63--%d.64.%d.64", i, i) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := &tdfsDiscard{h: http.Header{}}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/v2/bench/tdfs/manifests/"+bc.ref(i), nil)
				req.Header.Set("Accept", tdfsAccept)
				i++
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("GET %s: %d", req.URL.Path, w.code)
				}
			}
			if i > 60*64 && bc.name != "cells=4096" {
				b.Logf("%d iterations: selections repeat after %d, later ones are warm", i, 60*64)
			}
		})
	}
}
