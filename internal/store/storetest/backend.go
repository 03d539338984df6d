package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/store"
)

// RunBackend runs the Backend conformance suite. newBackend returns a new,
// empty backend for each subtest (registering its own cleanup with t).
func RunBackend(t *testing.T, newBackend func(t *testing.T) store.Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Backend)
	}{
		{"CommitThenRead", testCommitThenRead},
		{"ZeroLength", testZeroLength},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"CommitExisting", testCommitExisting},
		{"StagedNotVisible", testStagedNotVisible},
		{"Abort", testAbort},
		{"Resume", testResume},
		{"ResumeBeyondStaged", testResumeBeyondStaged},
		{"VerifyMismatch", testVerifyMismatch},
		{"VerifyMismatchOverExisting", testVerifyMismatchOverExisting},
		{"InterleavedStages", testInterleavedStages},
		{"LargeStreamed", testLargeStreamed},
		{"ConcurrentSameDigest", testConcurrentSameDigest},
		{"ConcurrentDistinct", testConcurrentDistinct},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend(t)) })
	}
}

// stage writes data to a new staged upload in pieces of at most chunk bytes
// (chunk <= 0: one Write) and returns it uncommitted.
func stage(t *testing.T, b store.Backend, data []byte, chunk int) store.Staged {
	t.Helper()
	st, err := b.Stage(ctxOf(t), "", 0)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	if st.Handle() == "" {
		t.Fatalf("Stage returned an empty handle")
	}
	write(t, st, data, chunk)
	return st
}

func write(t *testing.T, st store.Staged, data []byte, chunk int) {
	t.Helper()
	if chunk <= 0 {
		chunk = len(data) + 1
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		w, err := st.Write(data[:n])
		if err != nil || w != n {
			t.Fatalf("Write(%d bytes) = %d, %v", n, w, err)
		}
		data = data[n:]
	}
}

// put stores data as a blob and returns its digest.
func put(t *testing.T, b store.Backend, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	st := stage(t, b, data, 0)
	if err := st.Commit(ctxOf(t), d, false); err != nil {
		t.Fatalf("Commit(%s): %v", d, err)
	}
	st.Close() // after Commit: releases resources; its error is not part of the contract
	return d
}

func wantBlob(t *testing.T, b store.Backend, d digest.Digest, data []byte) {
	t.Helper()
	ctx := ctxOf(t)
	n, err := b.Stat(ctx, d)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Stat(%s) = %d, %v; want %d", d, n, err, len(data))
	}
	rc, err := b.Open(ctx, d, 0, -1)
	wantBytes(t, readAll(t, rc, err, "Open whole"), data, "Open whole")
}

func testCommitThenRead(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(1, 1000)
	st := stage(t, b, data, 333)
	d := digest.FromBytes(data)
	if err := st.Commit(ctx, d, false); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	st.Close()
	wantBlob(t, b, d, data)
	for _, r := range []struct {
		off, n int64
		want   []byte
	}{
		{0, -1, data},
		{0, int64(len(data)), data},
		{0, 10, data[:10]},
		{10, -1, data[10:]},
		{10, 90, data[10:100]},
		{999, -1, data[999:]},
		{999, 1, data[999:]},
		{990, 100, data[990:]}, // length past the end: what there is
		{0, 5000, data},
		{1000, -1, nil}, // offset at the end
		{1000, 10, nil},
		{500, 0, nil}, // zero length
		{0, 0, nil},
	} {
		what := fmt.Sprintf("Open(offset %d, length %d)", r.off, r.n)
		rc, err := b.Open(ctx, d, r.off, r.n)
		wantBytes(t, readAll(t, rc, err, what), r.want, what)
	}
	// Reading twice at once is independent.
	r1, err1 := b.Open(ctx, d, 0, -1)
	r2, err2 := b.Open(ctx, d, 500, -1)
	got2 := readAll(t, r2, err2, "second reader")
	got1 := readAll(t, r1, err1, "first reader")
	wantBytes(t, got1, data, "first reader")
	wantBytes(t, got2, data[500:], "second reader")
}

func testZeroLength(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	d := digest.FromBytes(nil)
	st, err := b.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, d, true); err != nil {
		t.Fatalf("Commit(empty, verify): %v", err)
	}
	st.Close()
	wantBlob(t, b, d, nil)
	for _, r := range [][2]int64{{0, 0}, {0, 10}} {
		rc, err := b.Open(ctx, d, r[0], r[1])
		wantBytes(t, readAll(t, rc, err, "Open empty blob"), nil, "Open empty blob")
	}
	// The same empty blob again: deduplicated.
	if d2 := put(t, b, []byte{}); d2 != d {
		t.Fatalf("digest %s, want %s", d2, d)
	}
	wantBlob(t, b, d, nil)
}

func testMissing(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	d := digest.FromString("never stored")
	wantNotFound(t, b, d, "empty backend")
	rc, err := b.Open(ctx, d, 5, 10)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Open range of missing blob: %v, want ErrNotFound", err)
	}
	put(t, b, []byte("something else"))
	wantNotFound(t, b, d, "backend holding another blob")
}

func testDelete(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(2, 4096)
	keep := put(t, b, Payload(3, 100))
	d := put(t, b, data)
	if err := b.Delete(ctx, d); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, b, d, "after Delete")
	if err := b.Delete(ctx, d); err != nil {
		t.Fatalf("Delete of a deleted blob: %v, want nil", err)
	}
	if err := b.Delete(ctx, digest.FromString("never stored")); err != nil {
		t.Fatalf("Delete of a never-stored blob: %v, want nil", err)
	}
	wantBlob(t, b, keep, Payload(3, 100))
	// It can be stored again.
	put(t, b, data)
	wantBlob(t, b, d, data)
}

func testCommitExisting(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(4, 10000)
	d := put(t, b, data)
	for _, verify := range []bool{false, true} {
		st := stage(t, b, data, 4000)
		if err := st.Commit(ctx, d, verify); err != nil {
			t.Fatalf("Commit over existing blob (verify %v): %v", verify, err)
		}
		st.Close()
		wantBlob(t, b, d, data)
	}
}

func testStagedNotVisible(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(5, 5000)
	d := digest.FromBytes(data)
	st := stage(t, b, data, 0)
	wantNotFound(t, b, d, "staged, not committed")
	h := st.Handle()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantNotFound(t, b, d, "staged and closed, not committed")
	// Still resumable after Close: commit it now.
	st, err := b.Stage(ctx, h, int64(len(data)))
	if err != nil {
		t.Fatalf("Stage(resume %q): %v", h, err)
	}
	if err := st.Commit(ctx, d, true); err != nil {
		t.Fatalf("Commit after resume: %v", err)
	}
	st.Close()
	wantBlob(t, b, d, data)
}

func testAbort(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(6, 3000)
	d := digest.FromBytes(data)
	st := stage(t, b, data, 1000)
	h := st.Handle()
	if err := st.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	wantNotFound(t, b, d, "after Abort")
	// The staged bytes are gone: resuming at their end must fail, now or at
	// a verified Commit.
	st, err := b.Stage(ctx, h, int64(len(data)))
	if err == nil {
		err = st.Commit(ctx, d, true)
		if !errors.Is(err, store.ErrDigestMismatch) {
			t.Fatalf("resumed an aborted upload at %d bytes and Commit(verify) = %v; want an error from Stage or ErrDigestMismatch", len(data), err)
		}
		st.Abort(ctx)
	}
	wantNotFound(t, b, d, "after resuming an aborted upload")
	// Aborting a resumed upload discards it too.
	st = stage(t, b, data, 0)
	st.Close()
	st2, err := b.Stage(ctx, st.Handle(), int64(len(data)))
	if err != nil {
		t.Fatalf("Stage(resume): %v", err)
	}
	if err := st2.Abort(ctx); err != nil {
		t.Fatalf("Abort of a resumed upload: %v", err)
	}
	wantNotFound(t, b, d, "after Abort of a resumed upload")
}

func testResume(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(7, 3000)
	d := digest.FromBytes(data)

	// First session: 1000 good bytes, then 1000 bytes that will be dropped.
	st := stage(t, b, data[:1000], 0)
	write(t, st, bytes.Repeat([]byte{0xee}, 1000), 0)
	h := st.Handle()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Resume at 1000: the garbage past it is discarded.
	st, err := b.Stage(ctx, h, 1000)
	if err != nil {
		t.Fatalf("Stage(resume at 1000): %v", err)
	}
	write(t, st, data[1000:2000], 300)
	h = st.Handle()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Resume again at 2000 and finish.
	st, err = b.Stage(ctx, h, 2000)
	if err != nil {
		t.Fatalf("Stage(resume at 2000): %v", err)
	}
	write(t, st, data[2000:], 0)
	wantNotFound(t, b, d, "resumed, not committed")
	if err := st.Commit(ctx, d, true); err != nil {
		t.Fatalf("Commit(verify) after resumes: %v", err)
	}
	st.Close()
	wantBlob(t, b, d, data)

	// Resuming at 0 discards everything staged.
	other := Payload(8, 500)
	st = stage(t, b, Payload(9, 700), 0)
	h = st.Handle()
	st.Close()
	st, err = b.Stage(ctx, h, 0)
	if err != nil {
		t.Fatalf("Stage(resume at 0): %v", err)
	}
	write(t, st, other, 0)
	od := digest.FromBytes(other)
	if err := st.Commit(ctx, od, true); err != nil {
		t.Fatalf("Commit(verify) after resume at 0: %v", err)
	}
	st.Close()
	wantBlob(t, b, od, other)
}

func testResumeBeyondStaged(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(10, 2000)
	d := digest.FromBytes(data)
	st := stage(t, b, data[:500], 0)
	h := st.Handle()
	st.Close()
	// The metadata claims 1000 bytes but the backend holds 500: the backend
	// must not make up the difference.
	st, err := b.Stage(ctx, h, 1000)
	if err != nil {
		return // refused: fine
	}
	write(t, st, data[1000:], 0)
	if err := st.Commit(ctx, d, true); !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("resumed past the staged bytes and Commit(verify) = %v; want ErrDigestMismatch (or an error from Stage)", err)
	}
	st.Abort(ctx)
	wantNotFound(t, b, d, "after a failed resume")
}

func testVerifyMismatch(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(11, 8192)
	d := digest.FromBytes(data)
	tampered := bytes.Clone(data)
	tampered[4000] ^= 1
	for _, c := range []struct {
		name   string
		staged []byte
	}{
		{"tampered", tampered},
		{"partial", data[:len(data)-1]},
		{"extra byte", append(bytes.Clone(data), 0)},
		{"empty", nil},
	} {
		st := stage(t, b, c.staged, 1000)
		if err := st.Commit(ctx, d, true); !errors.Is(err, store.ErrDigestMismatch) {
			t.Fatalf("%s: Commit(verify) = %v, want ErrDigestMismatch", c.name, err)
		}
		wantNotFound(t, b, d, c.name+": after a failed Commit")
		if err := st.Abort(ctx); err != nil {
			t.Fatalf("%s: Abort after a failed Commit: %v", c.name, err)
		}
		wantNotFound(t, b, d, c.name+": after Abort")
		// Nothing visible under the tampered bytes' own digest either.
		wantNotFound(t, b, digest.FromBytes(c.staged), c.name+": own digest")
	}
	// The right bytes still commit.
	put(t, b, data)
	wantBlob(t, b, d, data)
}

func testVerifyMismatchOverExisting(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(12, 5000)
	d := put(t, b, data)
	bad := bytes.Clone(data)
	bad[0] ^= 0xff
	st := stage(t, b, bad, 0)
	if err := st.Commit(ctx, d, true); !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Commit(verify) of other bytes under an existing digest = %v, want ErrDigestMismatch", err)
	}
	st.Abort(ctx)
	wantBlob(t, b, d, data)
}

func testInterleavedStages(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	a, c := Payload(13, 3000), Payload(14, 2000)
	sa := stage(t, b, a[:1000], 0)
	sc := stage(t, b, c[:1000], 0)
	if sa.Handle() == sc.Handle() {
		t.Fatalf("two staged uploads share handle %q", sa.Handle())
	}
	write(t, sa, a[1000:2000], 0)
	write(t, sc, c[1000:], 0)
	write(t, sa, a[2000:], 0)
	if err := sc.Commit(ctx, digest.FromBytes(c), true); err != nil {
		t.Fatal(err)
	}
	if err := sa.Commit(ctx, digest.FromBytes(a), true); err != nil {
		t.Fatal(err)
	}
	sa.Close()
	sc.Close()
	wantBlob(t, b, digest.FromBytes(a), a)
	wantBlob(t, b, digest.FromBytes(c), c)
}

// LargeSize is the size of the large blob tests (smaller with -short).
func LargeSize() int64 {
	if testing.Short() {
		return 8 << 20
	}
	return 64 << 20
}

func testLargeStreamed(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	size := LargeSize()
	const seed = 15
	st, err := b.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(st, h), Stream(seed, size))
	if err != nil || n != size {
		t.Fatalf("streaming %d bytes: wrote %d, %v", size, n, err)
	}
	d := digest.NewDigest(digest.SHA256, h)
	if err := st.Commit(ctx, d, true); err != nil {
		t.Fatalf("Commit(verify) of %d bytes: %v", size, err)
	}
	st.Close()
	if got, err := b.Stat(ctx, d); err != nil || got != size {
		t.Fatalf("Stat = %d, %v; want %d", got, err, size)
	}
	rc, err := b.Open(ctx, d, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	v := d.Verifier()
	n, err = io.Copy(v, rc)
	rc.Close()
	if err != nil || n != size || !v.Verified() {
		t.Fatalf("reading back: %d bytes, %v, verified %v", n, err, v.Verified())
	}
	// A range in the middle matches the same range of the stream.
	off, length := size/2+7, int64(1<<20)
	want := Stream(seed, off+length)
	if _, err := io.CopyN(io.Discard, want, off); err != nil {
		t.Fatal(err)
	}
	rc, err = b.Open(ctx, d, off, length)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := sameStream(rc, want); err != nil {
		t.Fatalf("range %d+%d: %v", off, length, err)
	}
}

// sameStream compares two readers to their end without holding either.
func sameStream(got, want io.Reader) error {
	g, w := make([]byte, 64<<10), make([]byte, 64<<10)
	var pos int64
	for {
		n, err := io.ReadFull(want, w)
		m, gerr := io.ReadFull(got, g[:n])
		if m != n || !bytes.Equal(g[:m], w[:n]) {
			return fmt.Errorf("differs near byte %d (read %d of %d: %v)", pos, m, n, gerr)
		}
		pos += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if k, _ := got.Read(g[:1]); k != 0 {
				return fmt.Errorf("more than the %d bytes expected", pos)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func testConcurrentSameDigest(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	data := Payload(16, 256<<10)
	d := digest.FromBytes(data)
	const writers = 8
	stages := make([]store.Staged, writers)
	for i := range stages {
		stages[i] = stage(t, b, data, 64<<10)
	}
	// Readers poll while the commits race: a blob that is visible at all
	// must be complete.
	done := make(chan struct{})
	var readers sync.WaitGroup
	readErrs := make(chan error, 4)
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				rc, err := b.Open(ctx, d, 0, -1)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					readErrs <- err
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					readErrs <- fmt.Errorf("a visible blob had %d bytes (%v), want the whole %d", len(got), err, len(data))
					return
				}
			}
		}()
	}
	start := make(chan struct{})
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i, st := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- st.Commit(ctx, d, i%2 == 0)
			st.Close()
		}()
	}
	close(start)
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	close(readErrs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Commit of the same digest: %v", err)
		}
	}
	for err := range readErrs {
		t.Errorf("reader during concurrent commits: %v", err)
	}
	wantBlob(t, b, d, data)
}

func testConcurrentDistinct(t *testing.T, b store.Backend) {
	ctx := ctxOf(t)
	const uploads = 16
	errs := make(chan error, uploads)
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				data := Payload(uint64(100+i), 1000+i*37*1024)
				st, err := b.Stage(ctx, "", 0)
				if err != nil {
					return err
				}
				for p := data; len(p) > 0; {
					n := min(len(p), 16<<10)
					if _, err := st.Write(p[:n]); err != nil {
						return err
					}
					p = p[n:]
				}
				if i%4 == 3 { // some are abandoned
					return st.Abort(ctx)
				}
				if err := st.Commit(ctx, digest.FromBytes(data), i%2 == 0); err != nil {
					return err
				}
				st.Close()
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent upload: %v", err)
		}
	}
	for i := range uploads {
		data := Payload(uint64(100+i), 1000+i*37*1024)
		if i%4 == 3 {
			wantNotFound(t, b, digest.FromBytes(data), fmt.Sprintf("aborted upload %d", i))
			continue
		}
		wantBlob(t, b, digest.FromBytes(data), data)
	}
}

// testPing: a working backend answers Ping (what /readyz asks), before and
// after it holds a blob.
func testPing(t *testing.T, b store.Backend) {
	p, ok := b.(store.Pinger)
	if !ok {
		t.Fatalf("%T does not implement store.Pinger: /readyz could not check it", b)
	}
	if err := p.Ping(ctxOf(t)); err != nil {
		t.Fatalf("Ping of an empty backend: %v", err)
	}
	data := []byte("ping")
	st := stage(t, b, data, 0)
	if err := st.Commit(ctxOf(t), digest.FromBytes(data), true); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := p.Ping(ctxOf(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
