package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The hostile battery's server settings: short timeouts so that the battery
// runs in seconds.
const (
	hostileHeaderTimeout = 2 * time.Second
	hostileBodyIdle      = 2 * time.Second
	hostileWriteIdle     = 2 * time.Second
	// hostileSlack is what a cut may take beyond its timeout on a loaded
	// 2-core machine.
	hostileSlack = 3 * time.Second
	// hostileRSSLimit bounds the server's resident memory during the
	// battery (it idles at about 20 MiB).
	hostileRSSLimit = 200 << 20
	// hostileLatencyLimit bounds every request of the normal client.
	hostileLatencyLimit = 3 * time.Second
)

// attack is one kind of hostile client, run by n connections at once.
type attack struct {
	name string
	n    int
	// run attacks over one connection and says whether the server held
	// (cut it in time, answered what it should).
	run func(ctx context.Context, i int) error
}

// attackResult counts how the connections of an attack ended.
type attackResult struct {
	name   string
	n      int
	failed []error
	took   latencies // how long the server took to cut or answer
}

// TestHostileClients runs slowloris headers, slow bodies, downloads never
// read, 1 MiB headers, hundreds of idle connections, oversized manifests
// (declared and endless chunked) and an endless chunked upload, all at once
// against one server,
// while a normal client pushes and pulls: every one of its requests must
// succeed in bounded time; the server's memory must stay bounded, its file
// descriptors come back, and the stored image stay intact.
func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("opens about 800 connections for ~15 s; skipped with -short")
	}
	root := t.TempDir()
	s := startServerOpt(t, root, serverOpt{env: []string{
		"DFSREG_HTTP_READ_HEADER_TIMEOUT=" + hostileHeaderTimeout.String(),
		"DFSREG_HTTP_BODY_IDLE_TIMEOUT=" + hostileBodyIdle.String(),
		"DFSREG_HTTP_WRITE_IDLE_TIMEOUT=" + hostileWriteIdle.String(),
		"DFSREG_HTTP_IDLE_TIMEOUT=5s",
		"DFSREG_LIMITS_MAX_UPLOADS=64",
		"DFSREG_LIMITS_MAX_CONNECTIONS=2048",
		"DFSREG_LIMITS_MAX_MANIFEST_PUTS=8",
	}})
	addr := strings.TrimPrefix(s.base, "http://")
	ctx := context.Background()
	c := newClient(s.base)
	defer c.close()
	im, err := pushImage(ctx, c, "hostile/app", "v1", 0x686f7374696c65, 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// a blob larger than the socket buffers, for the clients that stop
	// reading
	big := blob{Seed: 0x626967, Size: 32 << 20}
	bigDigest := big.digest()
	if err := c.postBlob(ctx, "hostile/big", big, bigDigest); err != nil {
		t.Fatal(err)
	}
	// upload sessions for the slow bodies and the endless stream
	sessions := make([]string, 41)
	for i := range sessions {
		if sessions[i], err = c.startUpload(ctx, "hostile/slow"); err != nil {
			t.Fatal(err)
		}
	}
	baseFDs, baseSockets := fdCount(t, s.pid()), socketCount(t, s.pid())
	baseRSS, _ := procStatus(s.pid(), "VmRSS")
	smp := startSampler(t, s.pid())
	defer smp.stop()

	// The normal client: pulls the image's manifest and a 1 MiB layer,
	// HEADs, and pushes a small blob, over and over, until the attacks end.
	stop := make(chan struct{})
	var lat latencies
	var normalErrs []error
	var pushed []blob
	normalDone := make(chan struct{})
	go func() {
		defer close(normalDone)
		nc := newClient(s.base)
		defer nc.close()
		timed := func(what string, op func(ctx context.Context) error) {
			ctx, cancel := context.WithTimeout(ctx, 2*hostileLatencyLimit)
			defer cancel()
			start := time.Now()
			err := op(ctx)
			d := time.Since(start)
			lat.add(d)
			if err == nil && d > hostileLatencyLimit {
				err = fmt.Errorf("took %v", d)
			}
			if err != nil {
				normalErrs = append(normalErrs, fmt.Errorf("%s: %w", what, err))
			}
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			timed("GET /v2/", nc.ping)
			timed("GET manifest", func(ctx context.Context) error {
				_, d, found, err := nc.getManifest(ctx, im.repo, im.tag)
				if err == nil && (!found || d != im.manifest) {
					err = fmt.Errorf("manifest %s, want %s", d, im.manifest)
				}
				return err
			})
			k := i % len(im.blobs)
			timed("HEAD blob", func(ctx context.Context) error { return nc.headBlob(ctx, im.repo, im.digests[k], im.blobs[k].Size) })
			timed("GET blob", func(ctx context.Context) error {
				found, err := nc.getBlob(ctx, im.repo, im.blobs[k], im.digests[k])
				if err == nil && !found {
					err = errors.New("blob gone")
				}
				return err
			})
			b := blob{Seed: 0x6e6f726d616c00 + uint64(i), Size: 16 << 10}
			timed("POST blob", func(ctx context.Context) error { return nc.postBlob(ctx, "hostile/normal", b, b.digest()) })
			pushed = append(pushed, b)
		}
	}()

	var endlessBytes atomic.Int64
	attacks := []attack{
		{"slowloris headers", 200, func(ctx context.Context, i int) error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			io.WriteString(conn, "GET /v2/ HTTP/1.1\r\nHost: "+addr+"\r\n")
			go func() { // a header line every 300ms, for as long as the connection lasts
				for j := 0; ; j++ {
					time.Sleep(300 * time.Millisecond)
					if _, err := fmt.Fprintf(conn, "X-Drip-%d: y\r\n", j); err != nil {
						return
					}
				}
			}()
			_, closed := waitClosed(conn, hostileHeaderTimeout+hostileSlack)
			if !closed {
				return errors.New("still open")
			}
			return nil
		}},
		{"idle connections", 500, func(ctx context.Context, i int) error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			if _, closed := waitClosed(conn, hostileHeaderTimeout+hostileSlack); !closed {
				return errors.New("still open")
			}
			return nil
		}},
		{"slow bodies", 40, func(ctx context.Context, i int) error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n%s",
				sessions[i], addr, 10<<20, bytes.Repeat([]byte{'s'}, 4096))
			status, closed := waitClosed(conn, hostileBodyIdle+hostileSlack)
			if !closed || !strings.HasPrefix(status, "HTTP/1.1 408") {
				return fmt.Errorf("answer %q, closed %v; want 408 and the connection closed", status, closed)
			}
			return nil
		}},
		{"downloads never read", 20, func(ctx context.Context, i int) error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET /v2/hostile/big/blobs/%s HTTP/1.1\r\nHost: %s\r\n\r\n", bigDigest, addr)
			time.Sleep(hostileWriteIdle + hostileSlack)
			// Cut: what was buffered, then an error. Not cut: all of it.
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _ := io.Copy(io.Discard, conn)
			if n >= big.Size {
				return fmt.Errorf("the server sent all %d MiB to a client that had not read for %v", n>>20, hostileWriteIdle+hostileSlack)
			}
			return nil
		}},
		{"1 MiB headers", 20, func(ctx context.Context, i int) error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			go fmt.Fprintf(conn, "GET /v2/ HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n", addr, strings.Repeat("a", 1<<20))
			status, closed := waitClosed(conn, hostileSlack)
			if !closed || (status != "" && !strings.HasPrefix(status, "HTTP/1.1 431")) {
				return fmt.Errorf("answer %q, closed %v; want 431 (or a reset) and the connection closed", status, closed)
			}
			return nil
		}},
		{"oversized manifests (8 MiB declared)", 10, func(ctx context.Context, i int) error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT /v2/hostile/app/manifests/big%d HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
				i, addr, mediaManifest, 8<<20)
			go conn.Write(bytes.Repeat([]byte{'{'}, 8<<20))
			status, closed := waitClosed(conn, hostileSlack)
			if !closed || !strings.HasPrefix(status, "HTTP/1.1 413") {
				return fmt.Errorf("answer %q, closed %v; want 413 and the connection closed", status, closed)
			}
			return nil
		}},
		{"endless chunked manifests", 10, func(ctx context.Context, i int) error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT /v2/hostile/app/manifests/endless%d HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n",
				i, addr, mediaManifest)
			var sent atomic.Int64
			go func() {
				chunk := append(append([]byte("10000\r\n"), bytes.Repeat([]byte{'['}, 64<<10)...), "\r\n"...)
				for {
					n, err := conn.Write(chunk)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
			// Waits for a place (8 at once) for up to 10s, then reads 4 MiB.
			status, closed := waitClosed(conn, 10*time.Second+hostileSlack)
			if !closed || (status != "" && !strings.HasPrefix(status, "HTTP/1.1 413") && !strings.HasPrefix(status, "HTTP/1.1 429")) {
				return fmt.Errorf("answer %q, closed %v; want 413 (429 when kept waiting) and the connection closed", status, closed)
			}
			if n := sent.Load(); n > 32<<20 {
				return fmt.Errorf("the server swallowed %d MiB of a manifest", n>>20)
			}
			return nil
		}},
		{"endless chunked upload", 1, func(ctx context.Context, i int) error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n", sessions[40], addr)
			chunk := append(append([]byte("40000\r\n"), bytes.Repeat([]byte{'u'}, 256<<10)...), "\r\n"...)
			// 64 MiB/s: fast enough to run far past every timeout, slow
			// enough to leave the shared machine's disk to the others.
			pace := time.NewTicker(4 * time.Millisecond)
			defer pace.Stop()
			end := time.Now().Add(8 * time.Second)
			for time.Now().Before(end) {
				<-pace.C
				if _, err := conn.Write(chunk); err != nil {
					return fmt.Errorf("the server cut a fast upload after %d MiB: %w", endlessBytes.Load()>>20, err)
				}
				endlessBytes.Add(256 << 10)
			}
			return nil // and go away without ending the body
		}},
	}

	start := time.Now()
	var socketsDuring atomic.Int64
	go func() { // sockets while the connections are held
		time.Sleep(time.Second)
		socketsDuring.Store(int64(socketCount(t, s.pid())))
	}()
	results := make([]*attackResult, len(attacks))
	var wg sync.WaitGroup
	for ai, a := range attacks {
		r := &attackResult{name: a.name, n: a.n}
		results[ai] = r
		var mu sync.Mutex
		for i := range a.n {
			wg.Go(func() {
				t0 := time.Now()
				err := a.run(ctx, i)
				r.took.add(time.Since(t0))
				if err != nil {
					mu.Lock()
					r.failed = append(r.failed, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	attacksTook := time.Since(start)
	close(stop)
	<-normalDone
	smp.stop()

	for _, r := range results {
		t.Logf("%-38s %4d connections, %d not held; time to cut/answer: p50 %v max %v", r.name, r.n, len(r.failed),
			r.took.quantile(.5).Round(time.Millisecond), r.took.quantile(1).Round(time.Millisecond))
		for i, err := range r.failed {
			if i == 3 {
				t.Errorf("%s: ... %d more", r.name, len(r.failed)-3)
				break
			}
			t.Errorf("%s: %v", r.name, err)
		}
	}
	t.Logf("the endless chunked upload streamed %d MiB in 8 s without being cut", endlessBytes.Load()>>20)
	t.Logf("normal client during %v of attacks: %s, %d errors", attacksTook.Round(time.Millisecond), lat.summary(), len(normalErrs))
	for i, err := range normalErrs {
		if i == 5 {
			break
		}
		t.Errorf("normal client: %v", err)
	}
	if lat.n() < 20 {
		t.Errorf("the normal client made only %d requests during the attacks", lat.n())
	}
	t.Logf("server RSS: %.1f MiB before, peak %.1f MiB during (%d samples)", mib(baseRSS), mib(smp.max()), smp.count())
	if smp.max() > hostileRSSLimit {
		t.Errorf("the server's resident set reached %.1f MiB, over the %d MiB bound", mib(smp.max()), hostileRSSLimit>>20)
	}
	// Every hostile connection is gone: the sockets come back to the
	// listener and a few keep-alive connections. (Other descriptors may
	// stay: the SQLite pool keeps the connections the load opened.)
	var after int
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = socketCount(t, s.pid())
		if after <= baseSockets+4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("server sockets: %d before, %d a second into the attacks, %d after (all fds: %d before, %d after)",
		baseSockets, socketsDuring.Load(), after, baseFDs, fdCount(t, s.pid()))
	if after > baseSockets+4 {
		t.Errorf("the server holds %d sockets after the attacks, %d before: %s", after, baseSockets, fdTargets(s.pid()))
	}
	if socketsDuring.Load() < int64(baseSockets+500) {
		t.Errorf("only %d sockets a second into the attacks: the hostile connections did not all reach the server", socketsDuring.Load())
	}
	// Nothing stored is damaged: the image and every normal push read back.
	if err := im.verify(ctx, c); err != nil {
		t.Errorf("the image after the attacks: %v", err)
	}
	for _, b := range pushed {
		if err := c.headBlob(ctx, "hostile/normal", b.digest(), b.Size); err != nil {
			t.Errorf("a blob the normal client pushed: %v", err)
		}
	}
	// The endless upload's session kept what reached the disk; it can be
	// cancelled.
	if off, ok, err := c.uploadStatus(ctx, sessions[40]); err != nil || !ok || off > endlessBytes.Load() {
		t.Errorf("the endless upload's session: offset %d (of %d sent), ok %v, err %v", off, endlessBytes.Load(), ok, err)
	} else {
		t.Logf("the endless upload's session holds %d MiB", off>>20)
	}
	resp, err := c.do(ctx, "DELETE", c.url(sessions[40], nil), nil, 0, nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("cancelling the endless upload: %v %v", err, resp)
	} else {
		drain(resp)
	}
	if logs := s.log.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "panic") {
		t.Errorf("the server logged errors:\n%s", s.log.Tail(4<<10))
	}
}

// waitClosed reads what the server sends on conn until it closes the
// connection, for at most limit. It returns the first line the server sent
// ("" if none) and whether the connection was closed (not timed out).
func waitClosed(conn net.Conn, limit time.Duration) (status string, closed bool) {
	conn.SetReadDeadline(time.Now().Add(limit))
	var first []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if len(first) < 64 {
			first = append(first, buf[:min(n, 64-len(first))]...)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return firstLine(first), false
			}
			return firstLine(first), true
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}
