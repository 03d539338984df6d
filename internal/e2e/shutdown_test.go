package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown: SIGTERM while a large monolithic upload and a chunk
// are streaming. The server stops accepting connections, lets both requests
// finish (201 and 202), exits 0, and what they stored is there after a
// restart.
func TestGracefulShutdown(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	const repo = "shutdown/big"
	big := blob{Seed: 0x7e77, Size: 256 << 20}
	chunked := blob{Seed: 0x7e78, Size: 24 << 20}
	bigDigest, chunkedDigest := big.digest(), chunked.digest()

	s := startServerOpt(t, root, serverOpt{logLevel: "info"})
	c := newClient(s.base)
	defer c.close()

	putLoc, err := c.startUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	patchLoc, err := c.startUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	const firstChunk = 16 << 20
	bigBody := newGatedReader(big.stream(0), 64<<20)
	chunkBody := newGatedReader(io.LimitReader(chunked.stream(0), firstChunk), 8<<20)
	defer bigBody.stop()
	defer chunkBody.stop()
	putErr := make(chan error, 1)
	go func() {
		resp, err := c.do(ctx, http.MethodPut, c.url(putLoc, map[string][]string{"digest": {bigDigest}}), bigBody, big.Size, nil)
		if err == nil {
			defer drain(resp)
			err = checkCreated("PUT "+putLoc, resp, bigDigest)
		}
		putErr <- err
	}()
	type patchResult struct {
		loc string
		err error
	}
	patchDone := make(chan patchResult, 1)
	go func() {
		loc, err := c.patch(ctx, patchLoc, chunkBody, 0, firstChunk)
		patchDone <- patchResult{loc, err}
	}()
	for _, g := range []*gatedReader{bigBody, chunkBody} {
		select {
		case <-g.reached:
		case <-time.After(time.Minute):
			t.Fatal("the uploads did not get going")
		}
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Wait until the server has closed its listener (a new connection is
	// refused); the two requests are still in flight, their bodies held.
	probe := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	closed := waitFor(wctx, func() bool {
		resp, err := probe.Get(s.base + "/v2/")
		if err == nil {
			resp.Body.Close()
			return false
		}
		return strings.Contains(err.Error(), "connection refused")
	})
	cancel()
	if !closed {
		t.Fatalf("after SIGTERM the server still accepts connections; log:\n%s", s.log.Tail(4<<10))
	}
	select {
	case <-s.exited:
		t.Fatalf("the server exited with requests in flight: %v", s.state)
	default:
	}

	close(bigBody.open)
	close(chunkBody.open)
	if err := <-putErr; err != nil {
		t.Fatalf("the upload in flight at SIGTERM: %v", err)
	}
	pr := <-patchDone
	if pr.err != nil {
		t.Fatalf("the chunk in flight at SIGTERM: %v", pr.err)
	}
	st, err := s.wait(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code := st.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; log:\n%s", code, s.log.Tail(4<<10))
	}
	log := s.log.String()
	for _, want := range []string{"shutting down", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
	}
	if containsLevel(log, "ERROR") {
		t.Errorf("the server logged errors:\n%s", log)
	}

	s = startServer(t, root)
	c2 := newClient(s.base)
	defer c2.close()
	if found, err := c2.getBlob(ctx, repo, big, bigDigest); err != nil || !found {
		t.Fatalf("the blob uploaded during shutdown: found %v, %v", found, err)
	}
	off, ok, err := c2.uploadStatus(ctx, pr.loc)
	if err != nil || !ok || off != firstChunk {
		t.Fatalf("the chunked upload after the restart: known %v at %d (want %d), %v", ok, off, firstChunk, err)
	}
	loc, err := c2.patch(ctx, pr.loc, chunked.stream(off), off, chunked.Size-off)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.putBlob(ctx, loc, chunked, chunkedDigest, chunked.Size); err != nil {
		t.Fatal(err)
	}
	if found, err := c2.getBlob(ctx, repo, chunked, chunkedDigest); err != nil || !found {
		t.Fatalf("the chunked blob: found %v, %v", found, err)
	}
}

// TestShutdownTimeout: a request that outlasts http.shutdown_timeout after
// SIGTERM does not keep the server up; it is cut, not acknowledged, and the
// upload it belonged to resumes after a restart from its last
// acknowledged chunk.
func TestShutdownTimeout(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	b, d := resumeBlob, resumeBlob.digest()
	s := startServerOpt(t, root, serverOpt{logLevel: "info", env: []string{"DFSREG_HTTP_SHUTDOWN_TIMEOUT=1s"}})
	c := newClient(s.base)
	defer c.close()
	loc, err := c.startUpload(ctx, resumeRepo)
	if err != nil {
		t.Fatal(err)
	}
	src := b.stream(0)
	if loc, err = c.patch(ctx, loc, io.LimitReader(src, resumeChunk), 0, resumeChunk); err != nil {
		t.Fatal(err)
	}
	g := newGatedReader(io.LimitReader(src, resumeChunk), resumeChunk/2)
	defer g.stop()
	errc := make(chan error, 1)
	go func() {
		_, err := c.patch(ctx, loc, g, resumeChunk, resumeChunk)
		errc <- err
	}()
	select {
	case <-g.reached:
	case err := <-errc:
		t.Fatalf("PATCH ended before its body was half sent: %v", err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The held request would never end by itself: the server has to give
	// up on it.
	if _, err := s.wait(time.Minute); err != nil {
		t.Fatalf("%v with a request held past the shutdown timeout; log:\n%s", err, s.log.Tail(4<<10))
	}
	g.stop() // the client's transport waits for its body reader to return
	if err := <-errc; err == nil || isStatusError(err) {
		t.Fatalf("the PATCH cut by the shutdown answered: %v", err)
	}
	if !strings.Contains(s.log.String(), "shutting down") {
		t.Errorf("the log does not say it shuts down:\n%s", s.log.String())
	}

	s = startServer(t, root)
	c = newClient(s.base)
	defer c.close()
	// The cut PATCH may have recorded the part of its body that arrived
	// (bytes of a dropped request are kept): the offset is somewhere from
	// the last acknowledged chunk to what was sent, and the upload resumes
	// from whatever the server reports.
	off, ok, err := c.uploadStatus(ctx, loc)
	if err != nil || !ok || off < resumeChunk || off > resumeChunk+resumeChunk/2 {
		t.Fatalf("upload after the restart: known %v at %d (want %d..%d), %v", ok, off, resumeChunk, resumeChunk+resumeChunk/2, err)
	}
	if loc, err = c.patch(ctx, loc, b.stream(off), off, b.Size-off); err != nil {
		t.Fatal(err)
	}
	if err := c.putBlob(ctx, loc, b, d, b.Size); err != nil {
		t.Fatal(err)
	}
	if found, err := c.getBlob(ctx, resumeRepo, b, d); err != nil || !found {
		t.Fatalf("resumed blob: found %v, %v", found, err)
	}
}
