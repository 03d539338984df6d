package ipfs_test

import (
	"github.com/dfsreg/dfsreg/internal/testutil"

	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/ipfs"
	"github.com/dfsreg/dfsreg/internal/store/storetest"
)

var (
	dfsregOnce sync.Once
	dfsregBin  string
	dfsregErr  error
)

// buildDfsreg builds the dfsreg binary from this repository, once.
func buildDfsreg(t *testing.T) string {
	t.Helper()
	dfsregOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dfsreg-ipfs-bin-")
		if err != nil {
			dfsregErr = err
			return
		}
		bin := filepath.Join(dir, "dfsreg")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/dfsreg/dfsreg")
		cmd.Dir = filepath.Join("..", "..", "..") // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			dfsregErr = fmt.Errorf("building dfsreg: %v\n%s", err, out)
			return
		}
		dfsregBin = bin
	})
	if dfsregErr != nil {
		t.Fatal(dfsregErr)
	}
	return dfsregBin
}

// needTool skips (or fails, with TEST_REQUIRE_TOOLS=1) when name is not on
// PATH.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(requireToolsEnv) == "1" {
			t.Fatalf("%s is not on PATH and %s=1 (run `make tools` and put .tools/bin on PATH)", name, requireToolsEnv)
		}
		t.Skipf("%s is not on PATH (run `make tools` and put .tools/bin on PATH)", name)
	}
	return p
}

// serveIPFS runs `dfsreg serve` on root with the ipfs backend and returns
// HOST:PORT once it answers.
func serveIPFS(t *testing.T, root, api, cacheDir string, cacheSize int64) string {
	t.Helper()
	bin := buildDfsreg(t)
	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "serve", "--addr", addr, "--root", root, "--log-level", "warn")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DFSREG_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"DFSREG_STORAGE_BACKEND=ipfs",
		"DFSREG_STORAGE_IPFS_API="+api,
		"DFSREG_STORAGE_IPFS_CACHE_DIR="+cacheDir,
		"DFSREG_STORAGE_IPFS_CACHE_SIZE="+strconv.FormatInt(cacheSize, 10))
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("dfsreg serve log:\n%s", log.String())
		}
	})
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("dfsreg serve exited: %s\n%s", cmd.ProcessState, log.String())
		default:
		}
		if resp, err := hc.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dfsreg serve did not answer:\n%s", log.String())
	return ""
}

// TestServeIPFSStartupFails: serve refuses to start when the node does not
// answer, saying so.
func TestServeIPFSStartupFails(t *testing.T) {
	needKubo(t)
	bin := buildDfsreg(t)
	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--root", t.TempDir())
	cmd.Env = append(os.Environ(), "DFSREG_STORAGE_BACKEND=ipfs", "DFSREG_STORAGE_IPFS_API=/ip4/127.0.0.1/tcp/"+strconv.Itoa(port))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does not answer") {
		t.Fatalf("serve with no node: %v\n%s\nwant a failure saying the node does not answer", err, out)
	}
}

// writeTar writes a layer tarball holding one file of data.
func writeTar(t *testing.T, path, name string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCraneRoundTrip: crane pushes and pulls images through `dfsreg serve`
// on the ipfs backend with a 4 MiB cache. A layer larger than the cache is
// never cached and is pulled from IPFS; the layers evicted by the last push
// (least recently used first) are pulled from IPFS too; every pulled blob verifies, and `ipfs cat`
// of each recorded CID gives the blob.
func TestCraneRoundTrip(t *testing.T) {
	k := sharedNode(t)
	crane := needTool(t, "crane")
	root, cacheDir, work := t.TempDir(), t.TempDir(), t.TempDir()
	const mib = 1 << 20
	reg := serveIPFS(t, root, k.api, cacheDir, 4*mib)
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(crane, append(args, "--insecure")...)
		cmd.Env = append(os.Environ(), "HOME="+work)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.Bytes()
	}
	// Random content: gzip leaves it as large as it is.
	layers := map[string][]byte{
		"big.tar":   storetest.Payload(1, 6*mib), // larger than the cache
		"small.tar": storetest.Payload(2, 100<<10),
		"mid1.tar":  storetest.Payload(3, 3*mib), // evicted by mid2
		"mid2.tar":  storetest.Payload(4, 3*mib),
	}
	for name, data := range layers {
		writeTar(t, filepath.Join(work, name), strings.TrimSuffix(name, ".tar"), data)
	}
	img1, img2 := reg+"/ipfs/one:v1", reg+"/ipfs/two:v1"
	run("append", "--oci-empty-base", "-f", filepath.Join(work, "big.tar"), "-f", filepath.Join(work, "small.tar"), "-f", filepath.Join(work, "mid1.tar"), "-t", img1)
	run("append", "--oci-empty-base", "-f", filepath.Join(work, "mid2.tar"), "-t", img2)

	var m1 struct {
		Config struct{ Digest digest.Digest }
		Layers []struct {
			Digest digest.Digest
			Size   int64
		}
	}
	if err := json.Unmarshal(run("manifest", img1), &m1); err != nil || len(m1.Layers) != 3 {
		t.Fatalf("manifest of %s: %v (%d layers)", img1, err, len(m1.Layers))
	}
	bigD, smallD, mid1D := m1.Layers[0].Digest, m1.Layers[1].Digest, m1.Layers[2].Digest
	cached := func(d digest.Digest) bool {
		_, err := os.Stat(filepath.Join(cacheDir, "blobs", "sha256", d.Encoded()[:2], d.Encoded()))
		return err == nil
	}
	if cached(bigD) {
		t.Errorf("the %d-byte layer was cached in a 4 MiB cache", m1.Layers[0].Size)
	}
	if cached(mid1D) {
		t.Error("the first 3 MiB layer is still cached after a second 3 MiB layer was pushed")
	}
	var m2 struct {
		Layers []struct{ Digest digest.Digest }
	}
	if err := json.Unmarshal(run("manifest", img2), &m2); err != nil || len(m2.Layers) != 1 {
		t.Fatalf("manifest of %s: %v", img2, err)
	}
	if !cached(m2.Layers[0].Digest) {
		t.Error("the last pushed layer is not cached")
	}

	// Pull everything back; crane verifies each blob against its digest.
	for _, img := range []string{img1, img2} {
		dir := filepath.Join(work, "pull-"+strings.ReplaceAll(img[len(reg)+1:], "/", "_"))
		run("pull", "--format", "oci", img, dir)
		n := checkLayout(t, dir)
		if n < 3 {
			t.Errorf("pulled %s: %d blobs", img, n)
		}
	}
	// The big layer alone, by digest, from IPFS.
	got := run("blob", reg+"/ipfs/one@"+bigD.String())
	if digest.FromBytes(got) != bigD {
		t.Fatalf("crane blob %s: %d bytes with another digest", bigD, len(got))
	}

	// The recorded CIDs: read from the metadata as `dfsreg inspect` will,
	// then `ipfs cat` each one.
	b := newBackendOpt(t, ipfs.Options{API: k.api, CacheSize: 1 << 20})
	s, err := openStoreAt(t, root, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{bigD, smallD, mid1D, m1.Config.Digest} {
		loc, err := s.BlobLocation(t.Context(), "ipfs/one", d)
		if err != nil || !loc.Pinned {
			t.Fatalf("BlobLocation(%s) = %+v, %v", d, loc, err)
		}
		out, err := k.ipfs(t.Context(), "cat", loc.Locator)
		if err != nil || digest.FromBytes(out) != d {
			t.Errorf("ipfs cat %s (blob %s): %d bytes, %v; want the blob", loc.Locator, d, len(out), err)
		}
	}
}

// checkLayout verifies every blob of an OCI layout against its file name and
// returns how many there are.
func checkLayout(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != e.Name() {
			t.Errorf("%s: blob %s has other content", dir, e.Name())
		}
	}
	return len(entries)
}

// openStoreAt opens the store at root (another process may have it open).
func openStoreAt(t *testing.T, root string, b store.Backend) (*store.Store, error) {
	s, err := store.Open(t.Context(), store.Options{Root: root, Backend: b})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}
