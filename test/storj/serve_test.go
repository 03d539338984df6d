package storjtest

import (
	"github.com/dfsreg/dfsreg/internal/testutil"

	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/store/storetest"
)

// testServe runs `dfsreg serve` on the Storj backend, built from the main
// module as a release would be, and drives it over HTTP and with crane.
func (e *env) testServe(t *testing.T) {
	bin := buildDfsreg(t)
	t.Run("BadConfig", func(t *testing.T) { e.testServeBadConfig(t, bin) })
	t.Run("Crane", func(t *testing.T) { e.testCrane(t, bin) })
	t.Run("RestartMidUpload", func(t *testing.T) { e.testRestartMidUpload(t, bin) })
	t.Run("Memory", func(t *testing.T) { e.testMemory(t, bin) })
}

func buildDfsreg(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dfsreg")
	// go test puts its own toolchain first on PATH.
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "..") // the main module
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building dfsreg: %v\n%s", err, out)
	}
	return bin
}

// tool finds a client tool on PATH; without it the test is skipped, or fails
// when TEST_REQUIRE_TOOLS is set (make test).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TEST_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is not on PATH (bash .ci/install-tools puts it in .tools/bin)", name)
		}
		t.Skipf("%s is not on PATH", name)
	}
	return p
}

// server is a `dfsreg serve` process.
type server struct {
	cmd    *exec.Cmd
	host   string // 127.0.0.1:PORT
	base   string // http://127.0.0.1:PORT
	log    *testutil.SyncBuffer
	exited chan struct{}
}

// serveEnv is the environment of a dfsreg process on the Storj backend:
// the test's own, without DFSREG_* settings, plus settings.
func serveEnv(settings ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DFSREG_") {
			env = append(env, kv)
		}
	}
	return append(env, settings...)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe starts dfsreg serve on root with env and waits until it
// answers /v2/. The process is killed at the end of the test, and its log
// must never show the access grant.
func (e *env) startServe(t *testing.T, bin, root string, env []string) *server {
	t.Helper()
	addr := freeAddr(t)
	s := &server{host: addr, base: "http://" + addr, log: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--addr", addr, "--root", root)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.kill()
		if strings.Contains(s.log.String(), e.grant) {
			t.Errorf("the server log shows the access grant")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-s.exited:
			t.Fatalf("dfsreg serve exited: %v\n%s", s.cmd.ProcessState, s.log.String())
		default:
		}
		if resp, err := http.Get(s.base + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dfsreg serve did not answer /v2/ in time\n%s", s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (e *env) storjEnv(bucket string, settings ...string) []string {
	return serveEnv(append([]string{
		"DFSREG_STORAGE_BACKEND=storj",
		"DFSREG_STORAGE_STORJ_BUCKET=" + bucket,
		"DFSREG_LOG_LEVEL=debug", // even debug logs must not show the grant
	}, settings...)...)
}

func (e *env) grantFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "grant")
	if err := os.WriteFile(f, []byte(e.grant+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// testServeBadConfig: serve refuses to start on a wrong bucket or grant,
// says why, and does not show the grant.
func (e *env) testServeBadConfig(t *testing.T, bin string) {
	bad := corrupt(e.grant)
	for _, c := range []struct {
		name, want string
		env        []string
	}{
		{"missing bucket", `bucket "no-such-bucket" does not exist`,
			e.storjEnv("no-such-bucket", "DFSREG_STORAGE_STORJ_ACCESS_GRANT="+e.grant)},
		{"corrupted grant", "the access grant is not valid",
			e.storjEnv(e.newBucket(t), "DFSREG_STORAGE_STORJ_ACCESS_GRANT="+bad)},
		{"missing grant file", "access grant file",
			e.storjEnv(e.newBucket(t), "DFSREG_STORAGE_STORJ_ACCESS_GRANT_FILE="+filepath.Join(t.TempDir(), "nope"))},
	} {
		cmd := exec.Command(bin, "serve", "--addr", freeAddr(t), "--root", t.TempDir())
		cmd.Env = c.env
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%s: dfsreg serve did not exit", c.name)
		}
		t.Logf("%s: %v: %s", c.name, err, out)
		if err == nil {
			t.Errorf("%s: dfsreg serve exited 0", c.name)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s: output does not say %q", c.name, c.want)
		}
		if strings.Contains(string(out), e.grant) || strings.Contains(string(out), bad) {
			t.Errorf("%s: output shows the access grant", c.name)
		}
	}
}

// layerFile writes a gzipped tar layer holding one file of size
// pseudo-random bytes (stored uncompressed in the gzip stream, so that the
// layer blob is as large as its content) and returns its path, digest and
// diff id.
func layerFile(t *testing.T, dir string, seed uint64, size int64) (string, digest.Digest, digest.Digest) {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("layer-%d.tar.gz", seed))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blob := sha256.New()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, blob), gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, diff))
	hdr := &tar.Header{Name: fmt.Sprintf("data-%d", seed), Mode: 0o644, Size: size, ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(tw, storetest.Stream(seed, size)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return p, digest.NewDigest(digest.SHA256, blob), digest.NewDigest(digest.SHA256, diff)
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// pulledBlobs checks that the OCI layout at dir holds each digest, intact.
func pulledBlobs(t *testing.T, dir string, want ...digest.Digest) {
	t.Helper()
	for _, d := range want {
		f, err := os.Open(filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()))
		if err != nil {
			t.Fatalf("pulled layout: %v", err)
		}
		v := d.Verifier()
		_, err = io.Copy(v, f)
		f.Close()
		if err != nil || !v.Verified() {
			t.Fatalf("pulled blob %s does not match its digest (%v)", d, err)
		}
	}
}

// testCrane: crane pushes a multi-layer image (one layer over 64 MiB, more
// than a Storj segment) with its streamed PATCH uploads and pulls it back;
// then the same server takes two large layers pushed monolithically (POST,
// PUT with the body) and in Content-Range chunks, and crane pulls and
// validates that image too.
func (e *env) testCrane(t *testing.T, bin string) {
	crane := tool(t, "crane")
	bucket := e.newBucket(t)
	srv := e.startServe(t, bin, t.TempDir(), e.storjEnv(bucket, "DFSREG_STORAGE_STORJ_ACCESS_GRANT="+e.grant))
	dir := t.TempDir()

	var files []string
	var digests []digest.Digest
	for i, size := range []int64{4 << 10, 3 << 20, 70 << 20} {
		p, d, _ := layerFile(t, dir, uint64(100+i), size)
		files = append(files, p)
		digests = append(digests, d)
	}
	ref := srv.host + "/crane/img:v1"
	run(t, crane, "append", "--insecure", "--oci-empty-base", "-f", strings.Join(files, ","), "-t", ref)
	var m v1.Manifest
	if err := json.Unmarshal(run(t, crane, "manifest", "--insecure", ref), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != len(digests) {
		t.Fatalf("pushed manifest has %d layers, want %d", len(m.Layers), len(digests))
	}
	for i, l := range m.Layers {
		if l.Digest != digests[i] {
			t.Fatalf("layer %d is %s, want %s", i, l.Digest, digests[i])
		}
	}
	pull := filepath.Join(t.TempDir(), "pull")
	run(t, crane, "pull", "--insecure", "--format", "oci", ref, pull)
	pulledBlobs(t, pull, digests...)
	run(t, crane, "validate", "--insecure", "--remote", ref)

	// Monolithic and chunked uploads of two more large layers.
	mono, monoD, monoDiff := layerFile(t, dir, 200, 66<<20)
	chunk, chunkD, chunkDiff := layerFile(t, dir, 201, 75<<20)
	const repo = "raw/img"
	c := &http.Client{}
	putMonolithic(t, c, srv.base, repo, mono, monoD)
	putChunked(t, c, srv.base, repo, chunk, chunkD, 24<<20)
	cfg, err := json.Marshal(v1.Image{
		Platform: v1.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{monoDiff, chunkDiff}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgD := digest.FromBytes(cfg)
	putBytes(t, c, srv.base, repo, cfg, cfgD)
	man, err := json.Marshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: cfgD, Size: int64(len(cfg))},
		Layers: []v1.Descriptor{
			{MediaType: v1.MediaTypeImageLayerGzip, Digest: monoD, Size: fileSize(t, mono)},
			{MediaType: v1.MediaTypeImageLayerGzip, Digest: chunkD, Size: fileSize(t, chunk)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.base+"/v2/"+repo+"/manifests/v1", bytes.NewReader(man))
	req.Header.Set("Content-Type", v1.MediaTypeImageManifest)
	expect(t, c, req, http.StatusCreated)
	ref = srv.host + "/" + repo + ":v1"
	pull = filepath.Join(t.TempDir(), "pull")
	run(t, crane, "pull", "--insecure", "--format", "oci", ref, pull)
	pulledBlobs(t, pull, cfgD, monoD, chunkD)
	run(t, crane, "validate", "--insecure", "--remote", ref)
	// Range reads of the layer that spans two segments.
	for _, r := range [][2]int64{{64<<20 - 10, 64<<20 + 9}, {0, 99}, {70 << 20, 75 << 20}} {
		req, _ := http.NewRequest(http.MethodGet, srv.base+"/v2/"+repo+"/blobs/"+chunkD.String(), nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		body, _ := expect(t, c, req, http.StatusPartialContent)
		f, err := os.Open(chunk)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, r[1]-r[0]+1)
		_, err = f.ReadAt(want, r[0])
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want) {
			t.Fatalf("Range bytes=%d-%d: %d bytes, not the range", r[0], r[1], len(body))
		}
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// expect sends req and fails unless it gets status; it returns the body
// and the header.
func expect(t *testing.T, c *http.Client, req *http.Request, status int) ([]byte, http.Header) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %s, want %d: %s", req.Method, req.URL, resp.Status, status, body)
	}
	return body, resp.Header
}

// location resolves an upload Location against base and adds query values.
func location(t *testing.T, base string, h http.Header, q ...string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := u.Parse(h.Get("Location"))
	if err != nil || h.Get("Location") == "" {
		t.Fatalf("bad upload Location %q", h.Get("Location"))
	}
	v := loc.Query()
	for i := 0; i+1 < len(q); i += 2 {
		v.Set(q[i], q[i+1])
	}
	loc.RawQuery = v.Encode()
	return loc.String()
}

func startUpload(t *testing.T, c *http.Client, base, repo string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	_, h := expect(t, c, req, http.StatusAccepted)
	return location(t, base, h)
}

// putMonolithic uploads a file with POST then one PUT carrying the body.
func putMonolithic(t *testing.T, c *http.Client, base, repo, path string, d digest.Digest) {
	t.Helper()
	loc := startUpload(t, c, base, repo)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, _ := url.Parse(loc)
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), f)
	req.ContentLength = fileSize(t, path)
	req.Header.Set("Content-Type", "application/octet-stream")
	expect(t, c, req, http.StatusCreated)
}

func putBytes(t *testing.T, c *http.Client, base, repo string, data []byte, d digest.Digest) {
	t.Helper()
	loc := startUpload(t, c, base, repo)
	u, _ := url.Parse(loc)
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	expect(t, c, req, http.StatusCreated)
}

// patch sends one chunk [start, start+len(r)) and returns the next Location.
func patch(t *testing.T, c *http.Client, base, loc string, start, n int64, r io.Reader) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, loc, r)
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+n-1))
	_, h := expect(t, c, req, http.StatusAccepted)
	if got, want := h.Get("Range"), fmt.Sprintf("0-%d", start+n-1); got != want {
		t.Fatalf("PATCH %d-%d: Range %q, want %q", start, start+n-1, got, want)
	}
	return location(t, base, h)
}

// putChunked uploads a file in PATCH chunks with Content-Range, then PUT.
func putChunked(t *testing.T, c *http.Client, base, repo, path string, d digest.Digest, chunk int64) {
	t.Helper()
	loc := startUpload(t, c, base, repo)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := fileSize(t, path)
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		loc = patch(t, c, base, loc, off, n, io.NewSectionReader(f, off, n))
	}
	finish(t, c, base, loc, d)
}

func finish(t *testing.T, c *http.Client, base, loc string, d digest.Digest) {
	t.Helper()
	u, _ := url.Parse(loc)
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), nil)
	expect(t, c, req, http.StatusCreated)
}

// getBlob checks that the registry serves blob d whole and intact.
func getBlob(t *testing.T, c *http.Client, base, repo string, d digest.Digest, size int64) {
	t.Helper()
	resp, err := c.Get(base + "/v2/" + repo + "/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET blob %s: %s", d, resp.Status)
	}
	v := d.Verifier()
	n, err := io.Copy(v, resp.Body)
	if err != nil || n != size || !v.Verified() {
		t.Fatalf("GET blob %s: %d bytes (%v), verified %v; want %d", d, n, err, v.Verified(), size)
	}
}

// uploadOffset asks the registry where an upload is.
func uploadOffset(t *testing.T, c *http.Client, loc string) int64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, loc, nil)
	_, h := expect(t, c, req, http.StatusNoContent)
	r := h.Get("Range")
	end, ok := strings.CutPrefix(r, "0-")
	if !ok {
		t.Fatalf("upload status Range %q", r)
	}
	n, err := strconv.ParseInt(end, 10, 64)
	if err != nil {
		t.Fatalf("upload status Range %q", r)
	}
	return n + 1
}

// testRestartMidUpload: uploads continue after dfsreg serve is killed and
// started again, between chunks and in the middle of a chunk after a part
// went to Storj.
func (e *env) testRestartMidUpload(t *testing.T, bin string) {
	bucket := e.newBucket(t)
	root := t.TempDir()
	env := e.storjEnv(bucket, "DFSREG_STORAGE_STORJ_ACCESS_GRANT_FILE="+e.grantFile(t))
	srv := e.startServe(t, bin, root, env)
	c := &http.Client{}
	const repo = "restart/img"
	const size = 80 << 20
	stream := func(seed uint64, off, n int64) io.Reader {
		r := storetest.Stream(seed, off+n)
		if _, err := io.CopyN(io.Discard, r, off); err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Killed between two chunks, with a part in Storj and more spooled.
	d1 := storetest.StreamDigest(1, size)
	loc := startUpload(t, c, srv.base, repo)
	loc = patch(t, c, srv.base, loc, 0, 70<<20, stream(1, 0, 70<<20))
	srv.kill()
	srv = e.startServe(t, bin, root, env)
	loc = rebase(t, loc, srv.base)
	if off := uploadOffset(t, c, loc); off != 70<<20 {
		t.Fatalf("after the restart the upload is at %d, want %d", off, 70<<20)
	}
	loc = patch(t, c, srv.base, loc, 70<<20, size-70<<20, stream(1, 70<<20, size-70<<20))
	finish(t, c, srv.base, loc, d1)
	getBlob(t, c, srv.base, repo, d1, size)

	// Killed during a chunk, after the chunk's first part went to Storj:
	// the session is where the previous chunk left it.
	d2 := storetest.StreamDigest(2, size)
	loc = startUpload(t, c, srv.base, repo)
	loc = patch(t, c, srv.base, loc, 0, 10<<20, stream(2, 0, 10<<20))
	pr, pw := io.Pipe()
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, loc, pr)
		req.ContentLength = 60 << 20
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", 10<<20, 70<<20-1))
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	go func() {
		// 55 of the 60 MiB announced: the request stays open.
		io.Copy(pw, stream(2, 10<<20, 55<<20))
	}()
	sent := ""
	for deadline := time.Now().Add(3 * time.Minute); sent == ""; {
		m, _ := filepath.Glob(filepath.Join(root, "storj-spool", "*", "sent.1"))
		if len(m) > 0 {
			sent = m[0]
		} else if time.Now().After(deadline) {
			t.Fatal("the first part of the chunk was not uploaded in time")
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	srv.kill()
	pw.CloseWithError(errors.New("server killed"))
	srv = e.startServe(t, bin, root, env)
	loc = rebase(t, loc, srv.base)
	if off := uploadOffset(t, c, loc); off != 10<<20 {
		t.Fatalf("after a restart in the middle of a chunk the upload is at %d, want %d", off, 10<<20)
	}
	loc = patch(t, c, srv.base, loc, 10<<20, size-10<<20, stream(2, 10<<20, size-10<<20))
	finish(t, c, srv.base, loc, d2)
	getBlob(t, c, srv.base, repo, d2, size)
	wantNone(t, "multipart uploads at the end", e.pending(t, bucket))
	if m, _ := filepath.Glob(filepath.Join(root, "storj-spool", "*")); len(m) != 0 {
		t.Fatalf("spool at the end: %q", m)
	}
}

// rebase points an upload location at another server (the restarted one
// listens on another port).
func rebase(t *testing.T, loc, base string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	return u.String()
}

// vmHWM reads the peak resident set size of process pid.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// memLimit bounds the server's peak resident set while it takes and serves
// a 1 GiB blob: the uplink library holds one 64 MiB segment while uploading
// it, and nothing may grow with the blob.
const memLimit = 256 << 20

// testMemory: a 1 GiB blob pushed monolithically and pulled back; the
// server's peak resident set stays far below the blob's size.
func (e *env) testMemory(t *testing.T, bin string) {
	if testing.Short() {
		t.Skip("pushes and pulls 1 GiB; skipped with -short")
	}
	bucket := e.newBucket(t)
	srv := e.startServe(t, bin, t.TempDir(), e.storjEnv(bucket, "DFSREG_STORAGE_STORJ_ACCESS_GRANT="+e.grant, "DFSREG_LOG_LEVEL=warn"))
	c := &http.Client{}
	const repo = "mem/img"
	const size = 1 << 30
	d := storetest.StreamDigest(9, size)
	pid := srv.cmd.Process.Pid
	start := vmHWM(t, pid)

	loc := startUpload(t, c, srv.base, repo)
	u, _ := url.Parse(loc)
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), storetest.Stream(9, size))
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	t0 := time.Now()
	expect(t, c, req, http.StatusCreated)
	push := time.Since(t0)
	afterPush := vmHWM(t, pid)
	t0 = time.Now()
	getBlob(t, c, srv.base, repo, d, size)
	pull := time.Since(t0)
	end := vmHWM(t, pid)
	t.Logf("1 GiB blob: push %v (%.1f MiB/s), pull %v (%.1f MiB/s); server VmHWM %d MiB at start, %d MiB after the push, %d MiB after the pull",
		push.Round(time.Millisecond), float64(size)/(1<<20)/push.Seconds(), pull.Round(time.Millisecond), float64(size)/(1<<20)/pull.Seconds(),
		start>>20, afterPush>>20, end>>20)
	if end > memLimit {
		t.Fatalf("the server's peak resident set reached %d MiB for a 1 GiB blob (limit %d MiB)", end>>20, memLimit>>20)
	}
}
