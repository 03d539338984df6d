package gc_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/gc"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// stressDuration is how long pushers and gc run together: 20 s, 3 s with
// -short, or GC_STRESS_SECONDS.
func stressDuration(t *testing.T) time.Duration {
	if v := os.Getenv("GC_STRESS_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("GC_STRESS_SECONDS=%q", v)
		}
		return time.Duration(n) * time.Second
	}
	if testing.Short() {
		return 3 * time.Second
	}
	return 20 * time.Second
}

// needTool returns the path of tool, or skips the test (fails it when
// TEST_REQUIRE_TOOLS=1) when it is not on PATH.
func needTool(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("TEST_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is not on PATH and TEST_REQUIRE_TOOLS=1 (run make tools and put .tools/bin on PATH)", tool)
		}
		t.Skipf("%s is not on PATH (TEST_REQUIRE_TOOLS=1 makes this a failure)", tool)
	}
	return p
}

// pushed records every manifest PUT that got 201, per repository.
type pushed struct {
	mu sync.Mutex
	ok map[string]map[digest.Digest]bool
}

func (p *pushed) add(repo string, d digest.Digest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ok[repo] == nil {
		p.ok[repo] = map[digest.Digest]bool{}
	}
	p.ok[repo][d] = true
}

func (p *pushed) has(repo string, d digest.Digest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok[repo][d]
}

// stats counts what happened during the stress test.
type stats struct {
	pushes, cleanFails, uploadRetries, cranePushes, craneFails atomic.Int64
	gcRuns, manifests, blobs                                   atomic.Int64
}

// TestStressPushWhileCollecting runs pushers (crane, and goroutines on the
// raw API) against serve while gc loops with a tiny grace period and
// --untagged, on a second Store over the same root (as `dfsreg gc` in
// another process). Tags are overwritten all the time and a shared pool
// of layers makes uploads deduplicate against blobs gc is deleting. A push
// may fail cleanly (MANIFEST_BLOB_UNKNOWN, or BLOB_UPLOAD_INVALID for an
// upload that lost the race); afterwards every tag must name a manifest
// that got 201, pull completely and verify, and the store must be
// consistent.
func TestStressPushWhileCollecting(t *testing.T) {
	crane := needTool(t, "crane")
	root := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(serve.New(st, serve.Options{}))
	defer srv.Close()
	gcStore, err := store.Open(ctx, store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer gcStore.Close()

	var s stats
	ok := &pushed{ok: map[string]map[digest.Digest]bool{}}
	deadline := time.Now().Add(stressDuration(t))
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	pool := make([][]byte, 12) // layers every pusher draws from
	for i := range pool {
		pool[i] = []byte(fmt.Sprintf("shared layer %d %s", i, strings.Repeat("x", i*100)))
	}

	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &rawPusher{base: srv.URL, c: srv.Client(), rnd: rand.New(rand.NewPCG(uint64(i), 7)), pool: pool, ok: ok, s: &s}
			for time.Now().Before(deadline) {
				if err := p.pushOne(); err != nil {
					fail(fmt.Errorf("pusher %d: %w", i, err))
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		host := strings.TrimPrefix(srv.URL, "http://")
		dir := t.TempDir()
		rnd := rand.New(rand.NewPCG(99, 1))
		for n := 0; time.Now().Before(deadline); n++ {
			// A pool of three layers plus, every other push, a new one.
			k := rnd.IntN(3)
			content := fmt.Sprintf("crane layer %d", k)
			if n%2 == 1 {
				content = fmt.Sprintf("crane layer new %d", n)
			}
			layer := filepath.Join(dir, fmt.Sprintf("l%d.tar", n))
			if err := os.WriteFile(layer, tarOf("file.txt", content), 0o644); err != nil {
				fail(err)
				return
			}
			ref := fmt.Sprintf("%s/stress/crane:t%d", host, rnd.IntN(3))
			out, err := exec.Command(crane, "append", "--insecure", "--oci-empty-base", "-f", layer, "-t", ref).CombinedOutput()
			if err != nil {
				// A clean failure of a push racing gc: crane reports the
				// registry's error.
				if !regexp.MustCompile(`MANIFEST_BLOB_UNKNOWN|BLOB_UNKNOWN|BLOB_UPLOAD_INVALID`).Match(out) {
					fail(fmt.Errorf("crane append: %v\n%s", err, out))
					return
				}
				s.craneFails.Add(1)
				continue
			}
			m := regexp.MustCompile(`@(sha256:[0-9a-f]{64})`).FindSubmatch(out)
			if m == nil {
				fail(fmt.Errorf("crane append printed no digest: %s", out))
				return
			}
			ok.add("stress/crane", digest.Digest(m[1]))
			s.cranePushes.Add(1)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		rnd := rand.New(rand.NewPCG(5, 5))
		for time.Now().Before(deadline) {
			o := gc.Options{Grace: time.Duration(rnd.IntN(300)) * time.Millisecond, Untagged: rnd.IntN(4) != 0}
			rep, err := gc.Run(ctx, gcStore, o)
			if err != nil {
				fail(fmt.Errorf("gc: %w", err))
				return
			}
			s.gcRuns.Add(1)
			s.manifests.Add(int64(rep.Totals.Manifests))
			s.blobs.Add(int64(rep.Totals.Blobs))
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("raw pushes %d (clean failures %d, uploads retried %d), crane pushes %d (clean failures %d); gc runs %d deleted %d manifests, %d blobs",
		s.pushes.Load(), s.cleanFails.Load(), s.uploadRetries.Load(), s.cranePushes.Load(), s.craneFails.Load(), s.gcRuns.Load(), s.manifests.Load(), s.blobs.Load())
	if s.pushes.Load() == 0 || s.cranePushes.Load() == 0 || s.blobs.Load() == 0 || s.manifests.Load() == 0 {
		t.Fatal("the stress test did not exercise pushes and collection together")
	}

	// Every tag names a manifest that got 201, and pulls completely.
	repos := []string{"stress/crane"}
	for i := range 3 {
		repos = append(repos, fmt.Sprintf("stress/r%d", i))
	}
	pulled := 0
	for _, repo := range repos {
		var tags struct{ Tags []string }
		getJSON(t, srv.Client(), srv.URL+"/v2/"+repo+"/tags/list", &tags)
		for _, tag := range tags.Tags {
			d := pullAll(t, srv.Client(), srv.URL, repo, tag)
			if !ok.has(repo, d) {
				t.Errorf("%s:%s names %s, which no PUT got 201 for", repo, tag, d)
			}
			pulled++
		}
	}
	if pulled == 0 {
		t.Fatal("no tags left to pull")
	}
	// A last collection with no grace, then the store is consistent and
	// every tag still pulls.
	if _, err := gc.Run(ctx, gcStore, gc.Options{Untagged: true}); err != nil {
		t.Fatal(err)
	}
	consistent(t, st)
	for _, repo := range repos {
		var tags struct{ Tags []string }
		getJSON(t, srv.Client(), srv.URL+"/v2/"+repo+"/tags/list", &tags)
		for _, tag := range tags.Tags {
			pullAll(t, srv.Client(), srv.URL, repo, tag)
		}
	}
}

func tarOf(name, content string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(1_700_000_000, 0)})
	tw.Write([]byte(content))
	tw.Close()
	return buf.Bytes()
}

func getJSON(t *testing.T, c *http.Client, u string, v any) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// pullAll pulls ref of repo and everything it references (children,
// config, layers), verifying each against its digest; it returns ref's
// digest.
func pullAll(t *testing.T, c *http.Client, base, repo, ref string) digest.Digest {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest+", "+ocispec.MediaTypeImageIndex+", application/vnd.docker.distribution.manifest.v2+json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s:%s: %s %s", repo, ref, resp.Status, body)
	}
	d := digest.FromBytes(body)
	if strings.HasPrefix(ref, "sha256:") && d.String() != ref {
		t.Fatalf("manifest %s has digest %s", ref, d)
	}
	var m struct {
		Config    *ocispec.Descriptor
		Layers    []ocispec.Descriptor
		Manifests []ocispec.Descriptor
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, child := range m.Manifests {
		pullAll(t, c, base, repo, child.Digest.String())
	}
	blobs := m.Layers
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, b := range blobs {
		resp, err := c.Get(base + "/v2/" + repo + "/blobs/" + b.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("%s:%s: blob %s: %s %v", repo, ref, b.Digest, resp.Status, err)
		}
		if got := digest.NewDigest(digest.SHA256, h); got != b.Digest || n != b.Size {
			t.Fatalf("%s:%s: blob %s: got %s, %d bytes (want %d)", repo, ref, b.Digest, got, n, b.Size)
		}
	}
	return d
}

// rawPusher pushes images and indexes through the raw API.
type rawPusher struct {
	base string
	c    *http.Client
	rnd  *rand.Rand
	pool [][]byte
	ok   *pushed
	s    *stats
}

// errClean is a push that failed cleanly because gc won a race.
type errClean struct{ msg string }

func (e errClean) Error() string { return e.msg }

func (p *rawPusher) do(method, u string, hdr map[string]string, body []byte) (*http.Response, []byte, error) {
	if !strings.HasPrefix(u, "http") {
		u = p.base + u
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := p.c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b, err
}

// blob makes data readable in repo: HEAD, else mount from another
// repository (sometimes), else upload (monolithic or chunked).
func (p *rawPusher) blob(repo string, data []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(data)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: int64(len(data))}
	resp, _, err := p.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	if err != nil {
		return desc, err
	}
	if resp.StatusCode == http.StatusOK {
		return desc, nil
	}
	for attempt := 0; ; attempt++ {
		var loc string
		if p.rnd.IntN(3) == 0 {
			from := fmt.Sprintf("stress/r%d", p.rnd.IntN(3))
			resp, body, err := p.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+d.String()+"&from="+url.QueryEscape(from), nil, nil)
			if err != nil {
				return desc, err
			}
			if resp.StatusCode == http.StatusCreated {
				return desc, nil
			}
			if resp.StatusCode != http.StatusAccepted {
				return desc, fmt.Errorf("mount: %s %s", resp.Status, body)
			}
			loc = resp.Header.Get("Location")
		} else {
			resp, body, err := p.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
			if err != nil {
				return desc, err
			}
			if resp.StatusCode != http.StatusAccepted {
				return desc, fmt.Errorf("start upload: %s %s", resp.Status, body)
			}
			loc = resp.Header.Get("Location")
		}
		if p.rnd.IntN(2) == 0 && len(data) > 1 { // chunked: one PATCH, then the rest with the PUT
			half := len(data) / 2
			resp, body, err := p.do(http.MethodPatch, loc, map[string]string{"Content-Type": "application/octet-stream",
				"Content-Range": fmt.Sprintf("0-%d", half-1)}, data[:half])
			if err != nil {
				return desc, err
			}
			if resp.StatusCode != http.StatusAccepted {
				return desc, fmt.Errorf("PATCH: %s %s", resp.Status, body)
			}
			loc = resp.Header.Get("Location")
			data2 := data[half:]
			sep := "?"
			if strings.Contains(loc, "?") {
				sep = "&"
			}
			resp, body, err = p.do(http.MethodPut, loc+sep+"digest="+d.String(), map[string]string{"Content-Type": "application/octet-stream"}, data2)
			if err != nil {
				return desc, err
			}
			if resp.StatusCode == http.StatusCreated {
				return desc, nil
			}
			if resp.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("BLOB_UPLOAD_INVALID")) && attempt < 3 {
				p.s.uploadRetries.Add(1)
				continue // gc deleted the bytes this upload deduplicated against
			}
			return desc, fmt.Errorf("PUT upload: %s %s", resp.Status, body)
		}
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		resp, body, err := p.do(http.MethodPut, loc+sep+"digest="+d.String(), map[string]string{"Content-Type": "application/octet-stream"}, data)
		if err != nil {
			return desc, err
		}
		if resp.StatusCode == http.StatusCreated {
			return desc, nil
		}
		if resp.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("BLOB_UPLOAD_INVALID")) && attempt < 3 {
			p.s.uploadRetries.Add(1)
			continue
		}
		return desc, fmt.Errorf("PUT upload: %s %s", resp.Status, body)
	}
}

func (p *rawPusher) manifest(repo, ref, mt string, v any) (digest.Digest, int64, error) {
	body, _ := json.Marshal(v)
	if ref == "" {
		ref = digest.FromBytes(body).String()
	}
	resp, rb, err := p.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, map[string]string{"Content-Type": mt}, body)
	if err != nil {
		return "", 0, err
	}
	switch {
	case resp.StatusCode == http.StatusCreated:
		d := digest.FromBytes(body)
		if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
			return "", 0, fmt.Errorf("PUT manifest: digest %s, want %s", got, d)
		}
		p.ok.add(repo, d)
		return d, int64(len(body)), nil
	case resp.StatusCode == http.StatusBadRequest && bytes.Contains(rb, []byte("MANIFEST_BLOB_UNKNOWN")):
		return "", 0, errClean{string(rb)}
	}
	return "", 0, fmt.Errorf("PUT manifest %s: %s %s", ref, resp.Status, rb)
}

func (p *rawPusher) image(repo, ref string) (ocispec.Descriptor, error) {
	cfg, err := p.blob(repo, []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","n":%d}`, p.rnd.Uint64())))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfg.MediaType = ocispec.MediaTypeImageConfig
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg}
	for range 1 + p.rnd.IntN(3) {
		l, err := p.blob(repo, p.pool[p.rnd.IntN(len(p.pool))])
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		m.Layers = append(m.Layers, l)
	}
	if p.rnd.IntN(2) == 0 {
		l, err := p.blob(repo, []byte(fmt.Sprintf("unique layer %d", p.rnd.Uint64())))
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		m.Layers = append(m.Layers, l)
	}
	d, size, err := p.manifest(repo, ref, ocispec.MediaTypeImageManifest, m)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: size}, err
}

// pushOne pushes an image or an index of two images under a random tag of
// a random repository; a clean failure is counted, anything else returned.
func (p *rawPusher) pushOne() error {
	repo := fmt.Sprintf("stress/r%d", p.rnd.IntN(3))
	tag := fmt.Sprintf("t%d", p.rnd.IntN(4))
	var err error
	if p.rnd.IntN(4) == 0 {
		var children []ocispec.Descriptor
		for _, arch := range []string{"amd64", "arm64"} {
			var c ocispec.Descriptor
			c, err = p.image(repo, "")
			if err != nil {
				break
			}
			c.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
			children = append(children, c)
		}
		if err == nil {
			idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children}
			_, _, err = p.manifest(repo, tag, ocispec.MediaTypeImageIndex, idx)
		}
	} else {
		_, err = p.image(repo, tag)
	}
	if _, ok := err.(errClean); ok {
		p.s.cleanFails.Add(1)
		return nil
	}
	if err == nil {
		p.s.pushes.Add(1)
	}
	return err
}
