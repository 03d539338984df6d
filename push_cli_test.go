package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/cmd"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// plainLayout writes an OCI layout holding one single-layer image.
func plainLayout(t *testing.T, dir string) {
	t.Helper()
	bd := filepath.Join(dir, "blobs", "sha256")
	os.MkdirAll(bd, 0o755)
	put := func(mt string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		os.WriteFile(filepath.Join(bd, d.Encoded()), b, 0o644)
		return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
	}
	layer := put(ocispec.MediaTypeImageLayerGzip, []byte("not really a layer"))
	cfg := put(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["`+layer.Digest.String()+`"]}}`))
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md := put(ocispec.MediaTypeImageManifest, mb)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// TestPushInterruptCLI runs `dfsreg push --field` as Main does, cancels its
// context (what Ctrl-C does through signal.NotifyContext) while uploads
// hang in the registry, and checks the command returns at once with no tag
// written and its spool removed; the next run completes, skipping the
// blobs that arrived.
func TestPushInterruptCLI(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := serve.New(st, serve.Options{})
	var hang atomic.Bool
	var puts atomic.Int64
	interrupt := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && hang.Load() && puts.Add(1) > 3 {
			select {
			case interrupt <- struct{}{}:
			default:
			}
			io.Copy(io.Discard, r.Body) // then the server notices when the client goes
			<-r.Context().Done()        // hang until it does
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://")

	dir := t.TempDir()
	plainLayout(t, filepath.Join(dir, "base"))
	var spec bytes.Buffer
	spec.WriteString(`{"allotments":[`)
	for i := range 8 {
		b := make([]byte, 256<<10)
		rand.Read(b)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), b, 0o644)
		if i > 0 {
			spec.WriteString(",")
		}
		fmt.Fprintf(&spec, `{"src":"f%d","dst":"/f%d","row":%d,"col":%d}`, i, i, i/3, i%3)
	}
	spec.WriteString(`]}`)
	os.WriteFile(filepath.Join(dir, "2dfs.json"), spec.Bytes(), 0o644)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("DOCKER_CONFIG", t.TempDir())

	run := func(ctx context.Context) (string, string, error) {
		var stdout, stderr bytes.Buffer
		root := cmd.NewRootCmd(&stdout, &stderr)
		root.SetArgs([]string{"push", "--json", "-j", "2", "--field", filepath.Join(dir, "2dfs.json"), "--base", filepath.Join(dir, "base"), reg + "/cli/img:v1"})
		err := root.ExecuteContext(ctx)
		return stdout.String(), stderr.String(), err
	}

	hang.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-interrupt
		cancel()
	}()
	start := time.Now()
	_, stderr, err := run(ctx)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted push: err = %v\n%s", err, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the interrupted push took %v to return", d)
	}
	resp, err := http.Head(srv.URL + "/v2/cli/img/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tag after the interrupted push: %d", resp.StatusCode)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("the interrupted push left %d entries in TMPDIR", len(left))
	}

	hang.Store(false)
	out, stderr, err := run(context.Background())
	if err != nil {
		t.Fatalf("second push: %v\n%s", err, stderr)
	}
	var res struct {
		Existing, Uploaded, Blobs int
		Digest                    string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Existing < 3 || res.Existing+res.Uploaded != res.Blobs {
		t.Fatalf("second push did not skip what arrived: %+v", res)
	}
	resp, err = http.Head(srv.URL + "/v2/cli/img/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != res.Digest {
		t.Fatalf("tag after the second push: %d %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}
}
