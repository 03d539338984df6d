package main

// BenchmarkPushVsCrane measures `dfsreg push` of a 2DFS image against
// `crane push` of an image with the same blobs, each into a fresh local
// `dfsreg serve` (a separate process, filesystem store), then pushes the
// 2DFS image again, which must send no blob byte.
//
//	PATH=$PWD/.tools/bin:$PATH go test -run '^$' -bench PushVsCrane -benchtime 1x .
//
// Scale (the figure is 64 allotments of 16 MiB = 1 GiB):
// PUSH_BENCH_ALLOTMENTS (default 64), PUSH_BENCH_MIB (default 16),
// PUSH_BENCH_ROUNDS (default 3; the median is reported), PUSH_BENCH_DIR
// (where the data and stores go; default a temporary directory).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/partition"
)

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func BenchmarkPushVsCrane(b *testing.B) {
	crane, err := exec.LookPath("crane")
	if err != nil {
		b.Skip("crane is not on PATH (run make tools)")
	}
	n := benchEnv("PUSH_BENCH_ALLOTMENTS", 64)
	mib := benchEnv("PUSH_BENCH_MIB", 16)
	rounds := benchEnv("PUSH_BENCH_ROUNDS", 3)
	dir := os.Getenv("PUSH_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		dir, err = os.MkdirTemp(dir, "pushbench-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	dfsreg := filepath.Join(dir, "dfsreg")
	if err := os.Symlink(self, dfsreg); err != nil {
		b.Fatal(err)
	}
	tdfsLayout, craneLayout, total := benchLayouts(b, dir, n, int64(mib)<<20)
	b.Logf("%d allotments of %d MiB (%d MiB with the base), %d rounds", n, mib, total>>20, rounds)

	var craneS, dfsS, againS []float64
	for i := range b.N * rounds {
		order := []string{"crane", "dfsreg"}
		if i%2 == 1 {
			order = []string{"dfsreg", "crane"}
		}
		for _, tool := range order {
			srv := startServe(b, dfsreg, filepath.Join(dir, fmt.Sprintf("store-%d-%s", i, tool)))
			ref := srv.addr + "/bench/" + tool + ":v1"
			if tool == "crane" {
				craneS = append(craneS, timeCmd(b, crane, "push", "--insecure", craneLayout, ref))
			} else {
				dfsS = append(dfsS, timeCmd(b, dfsreg, "push", "-q", tdfsLayout, ref))
				out, secs := outputCmd(b, dfsreg, "push", "-q", "--json", tdfsLayout, ref)
				var res struct {
					BytesSent int64 `json:"bytesSent"`
					Existing  int   `json:"existing"`
					Blobs     int   `json:"blobs"`
				}
				if err := json.Unmarshal(out, &res); err != nil {
					b.Fatal(err)
				}
				if res.BytesSent != 0 || res.Existing != res.Blobs {
					b.Fatalf("re-push sent %d bytes (%d/%d blobs existing)", res.BytesSent, res.Existing, res.Blobs)
				}
				againS = append(againS, secs)
			}
			srv.stop(b)
			os.RemoveAll(filepath.Join(dir, fmt.Sprintf("store-%d-%s", i, tool)))
		}
	}
	mb := float64(total) / (1 << 20)
	c, d, a := median(craneS), median(dfsS), median(againS)
	b.Logf("crane push:  %v s, median %.2f s = %.0f MiB/s", craneS, c, mb/c)
	b.Logf("dfsreg push: %v s, median %.2f s = %.0f MiB/s (%.2fx crane)", dfsS, d, mb/d, c/d)
	b.Logf("dfsreg re-push: %v s, median %.3f s, 0 blob bytes sent", againS, a)
	b.ReportMetric(mb/c, "crane-MiB/s")
	b.ReportMetric(mb/d, "dfsreg-MiB/s")
	b.ReportMetric(c/d, "x-crane")
	b.ReportMetric(a, "repush-s")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchLayouts writes the blobs once and two layouts sharing them (hard
// links): a 2DFS image (small base, field of n allotments in one row) and a
// plain image whose layers are the same blobs.
func benchLayouts(b *testing.B, dir string, n int, size int64) (tdfsDir, craneDir string, total int64) {
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	put := func(body []byte) ocispec.Descriptor {
		d := digest.FromBytes(body)
		if err := os.WriteFile(filepath.Join(data, d.Encoded()), body, 0o644); err != nil {
			b.Fatal(err)
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(body))}
	}
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	buf := make([]byte, size)
	var allots []partition.Allotment
	var blobs []ocispec.Descriptor
	for i := range n {
		for j := 0; j < len(buf); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < len(buf); k++ {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		d := put(buf)
		d.MediaType = ocispec.MediaTypeImageLayerGzip
		blobs = append(blobs, d)
		allots = append(allots, partition.Allotment{Row: 0, Col: i, Digest: d.Digest, DiffID: d.Digest})
		total += size
	}
	base := put(bytes.Repeat([]byte{0}, 1024))
	base.MediaType = ocispec.MediaTypeImageLayerGzip
	cfgBody := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + base.Digest.String() + `"]}}`)
	cfg := put(cfgBody)
	cfg.MediaType = ocispec.MediaTypeImageConfig
	f, err := partition.NewField(allots)
	if err != nil {
		b.Fatal(err)
	}
	field := put(f.Encode())
	field.MediaType = partition.FieldMediaType
	total += base.Size

	write := func(name string, layers []ocispec.Descriptor, links []ocispec.Descriptor) string {
		l := filepath.Join(dir, name)
		bd := filepath.Join(l, "blobs", "sha256")
		os.MkdirAll(bd, 0o755)
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers}
		m.SchemaVersion = 2
		mb, _ := json.Marshal(m)
		md := digest.FromBytes(mb)
		os.WriteFile(filepath.Join(bd, md.Encoded()), mb, 0o644)
		for _, d := range append(append([]ocispec.Descriptor{cfg}, layers...), links...) {
			if err := os.Link(filepath.Join(data, d.Digest.Encoded()), filepath.Join(bd, d.Digest.Encoded())); err != nil && !os.IsExist(err) {
				b.Fatal(err)
			}
		}
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb)),
			Annotations: map[string]string{ocispec.AnnotationRefName: "v1"}}}}
		idx.SchemaVersion = 2
		ib, _ := json.Marshal(idx)
		os.WriteFile(filepath.Join(l, "index.json"), ib, 0o644)
		os.WriteFile(filepath.Join(l, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
		return l
	}
	tdfsDir = write("tdfs-layout", []ocispec.Descriptor{base, field}, blobs)
	craneDir = write("crane-layout", append([]ocispec.Descriptor{base}, blobs...), nil)
	return tdfsDir, craneDir, total
}

type benchServer struct {
	cmd  *exec.Cmd
	addr string
}

func startServe(b *testing.B, dfsreg, root string) *benchServer {
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(dfsreg, "serve", "--addr", addr, "--root", root, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			b.Fatalf("dfsreg serve on %s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &benchServer{cmd: cmd, addr: addr}
}

func (s *benchServer) stop(b *testing.B) {
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		b.Logf("dfsreg serve: %v", err)
	}
}

func timeCmd(b *testing.B, name string, args ...string) float64 {
	_, s := outputCmd(b, name, args...)
	return s
}

func outputCmd(b *testing.B, name string, args ...string) ([]byte, float64) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	secs := time.Since(start).Seconds()
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return out, secs
}
