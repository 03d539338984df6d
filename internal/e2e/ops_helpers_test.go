package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// latencies collects request durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile returns the q-quantile (0..1) of the durations, nearest rank.
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l *latencies) n() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

func (l *latencies) summary() string {
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", l.n(),
		l.quantile(.5).Round(10*time.Microsecond), l.quantile(.9).Round(10*time.Microsecond),
		l.quantile(.99).Round(10*time.Microsecond), l.quantile(1).Round(10*time.Microsecond))
}

// fdCount is the number of open file descriptors of process pid.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("counting the server's fds: %v", err)
	}
	return len(ents)
}

// image is blobs pushed to a repository and a manifest over them, tagged.
type image struct {
	repo, tag string
	blobs     []blob
	digests   []string
	manifest  string // digest
}

// pushImage pushes n blobs of size bytes (the first is the config) and a
// manifest tagged tag.
func pushImage(ctx context.Context, c *client, repo, tag string, seed uint64, n int, size int64) (*image, error) {
	im := &image{repo: repo, tag: tag}
	for i := range n {
		b := blob{Seed: seed + uint64(i), Size: size}
		d := b.digest()
		if err := c.postBlob(ctx, repo, b, d); err != nil {
			return nil, err
		}
		im.blobs, im.digests = append(im.blobs, b), append(im.digests, d)
	}
	m := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: mediaManifest, Config: descriptor{"application/vnd.oci.image.config.v1+json", im.digests[0], size}}
	for _, d := range im.digests[1:] {
		m.Layers = append(m.Layers, descriptor{"application/vnd.oci.image.layer.v1.tar", d, size})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := c.putManifest(ctx, repo, tag, body); err != nil {
		return nil, err
	}
	im.manifest = sha256Digest(body)
	return im, nil
}

// verify reads the whole image back and checks every byte.
func (im *image) verify(ctx context.Context, c *client) error {
	_, d, found, err := c.getManifest(ctx, im.repo, im.tag)
	if err != nil {
		return err
	}
	if !found || d != im.manifest {
		return fmt.Errorf("%s:%s: manifest %s (found %v), want %s", im.repo, im.tag, d, found, im.manifest)
	}
	for i, b := range im.blobs {
		found, err := c.getBlob(ctx, im.repo, b, im.digests[i])
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%s: blob %s is gone", im.repo, im.digests[i])
		}
	}
	return nil
}

// socketCount is the number of sockets process pid has open.
func socketCount(t *testing.T, pid int) int {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("counting the server's sockets: %v", err)
		return 0
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// fdTargets lists what process pid's file descriptors point to, counted.
func fdTargets(pid int) string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	count := map[string]int{}
	for _, e := range ents {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		if i := strings.IndexByte(target, ':'); i > 0 && strings.HasPrefix(target, "socket") {
			target = "socket"
		}
		count[target]++
	}
	var out []string
	for k, n := range count {
		out = append(out, fmt.Sprintf("%s x%d", k, n))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
