package storjtest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"storj.io/uplink"

	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/storetest"
	"github.com/dfsreg/dfsreg/internal/store/storj"
)

const part = storj.MinPartSize

// testStartup: New checks the bucket and the grant, and says clearly what
// is wrong without ever showing the grant.
func (e *env) testStartup(t *testing.T) {
	bucket := e.newBucket(t)
	spool := t.TempDir()

	// A grant file as `uplink access export` writes it (trailing newline).
	file := filepath.Join(t.TempDir(), "grant")
	if err := os.WriteFile(file, []byte(e.grant+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := e.open(t, storj.Config{Bucket: bucket, AccessGrantFile: file, SpoolDir: spool})
	if b.PartSize() != storj.DefaultPartSize {
		t.Errorf("default part size %d, want %d", b.PartSize(), storj.DefaultPartSize)
	}

	otherBucket, err := e.access.Share(uplink.FullPermission(), uplink.SharePrefix{Bucket: "someone-elses"})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := e.access.Share(uplink.Permission{AllowDownload: true, AllowUpload: true, AllowList: true, AllowDelete: true,
		NotAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		cfg   storj.Config
		grant *uplink.Access // the grant used, when not e.grant
		want  string
	}{
		{"missing bucket", storj.Config{Bucket: "no-such-bucket", AccessGrant: e.grant}, nil,
			`bucket "no-such-bucket" does not exist on satellite`},
		{"invalid bucket name", storj.Config{Bucket: "No_Such", AccessGrant: e.grant}, nil, ""},
		{"corrupted grant", storj.Config{Bucket: bucket, AccessGrant: corrupt(e.grant)}, nil, "the access grant is not valid"},
		{"not a grant", storj.Config{Bucket: bucket, AccessGrant: "hunter2-not-a-grant"}, nil, "the access grant is not valid"},
		{"grant for another bucket", storj.Config{Bucket: bucket}, otherBucket, "refused the access grant"},
		{"expired grant", storj.Config{Bucket: bucket}, expired, "refused the access grant"},
		{"empty grant file", storj.Config{Bucket: bucket, AccessGrantFile: emptyFile}, nil, "is empty"},
		{"grant and file", storj.Config{Bucket: bucket, AccessGrant: e.grant, AccessGrantFile: file}, nil, "not both"},
		{"no grant", storj.Config{Bucket: bucket}, nil, "no access grant"},
		{"small parts", storj.Config{Bucket: bucket, AccessGrant: e.grant, PartSize: 1 << 20}, nil, "part size"},
	} {
		secrets := []string{e.grant, c.cfg.AccessGrant}
		if c.grant != nil {
			s, err := c.grant.Serialize()
			if err != nil {
				t.Fatal(err)
			}
			c.cfg.AccessGrant = s
			secrets = append(secrets, s)
		}
		c.cfg.SpoolDir = spool
		b, err := storj.New(e.ctx, c.cfg)
		if err == nil {
			b.Close()
			t.Errorf("%s: New succeeded, want an error", c.name)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.want)
		}
		for _, s := range secrets {
			if len(s) > 8 && strings.Contains(err.Error(), s) {
				t.Errorf("%s: the error shows the access grant: %q", c.name, err)
			}
		}
	}
}

// corrupt changes one character in the middle of a grant.
func corrupt(grant string) string {
	b := []byte(grant)
	i := len(b) / 2
	if b[i] == 'x' {
		b[i] = 'y'
	} else {
		b[i] = 'x'
	}
	return string(b)
}

func write(t *testing.T, st store.Staged, data []byte) {
	t.Helper()
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		if w, err := st.Write(data[:n]); err != nil || w != n {
			t.Fatalf("Write(%d bytes) = %d, %v", n, w, err)
		}
		data = data[n:]
	}
}

func handleParts(t *testing.T, h string) string {
	t.Helper()
	f := strings.Split(h, ":")
	if len(f) != 5 {
		t.Fatalf("handle %q: want sj1:<id>:<parts>:<bytes>:<upload id>", h)
	}
	return f[2]
}

func wantBlob(t *testing.T, b store.Backend, d digest.Digest, data []byte) {
	t.Helper()
	if n, err := b.Stat(t.Context(), d); err != nil || n != int64(len(data)) {
		t.Fatalf("Stat(%s) = %d, %v; want %d", d, n, err, len(data))
	}
	rc, err := b.Open(t.Context(), d, 0, -1)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", d, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("blob %s holds %d bytes (%s), want %d", d, len(got), digest.FromBytes(got), len(data))
	}
}

func wantNone(t *testing.T, what string, got []string) {
	t.Helper()
	if len(got) != 0 {
		t.Fatalf("%s: %q, want none", what, got)
	}
}

// testMultipartResume: parts uploaded by one backend are picked up by
// another (a restarted server) from the handle and the spool, and the
// result is the blob.
func (e *env) testMultipartResume(t *testing.T) {
	ctx := t.Context()
	cfg := e.config(t)
	data := storetest.Payload(21, 3*part+123457)
	d := digest.FromBytes(data)
	off := 2*part + 1000

	b1, err := storj.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := b1.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, data[:off])
	h := st.Handle()
	if got := handleParts(t, h); got != "2" {
		t.Fatalf("handle %q after %d bytes in %d-byte parts counts %s parts, want 2", h, off, part, got)
	}
	st.Close()
	b1.Close() // the process goes away
	if p := e.pending(t, cfg.Bucket); len(p) != 1 || !strings.HasPrefix(p[0], "uploads/") {
		t.Fatalf("multipart uploads in progress: %q, want one under uploads/", p)
	}

	b2 := e.open(t, cfg)
	st, err = b2.Stage(ctx, h, int64(off))
	if err != nil {
		t.Fatalf("Stage(%q, %d) in a new backend: %v", h, off, err)
	}
	write(t, st, data[off:])
	if err := st.Commit(ctx, d, true); err != nil {
		t.Fatalf("Commit(verify): %v", err)
	}
	st.Close()
	wantBlob(t, b2, d, data)
	wantNone(t, "multipart uploads after commit", e.pending(t, cfg.Bucket))
	if o := e.objects(t, cfg.Bucket); len(o) != 1 || o[0] != "blobs/sha256/"+d.Encoded() {
		t.Fatalf("objects %q, want only blobs/sha256/%s", o, d.Encoded())
	}
	wantNone(t, "spool after commit", spoolFiles(t, cfg.SpoolDir))
}

// testCrashAfterPartUpload: the process dies after uploading parts but
// before the store recorded the handle that counts them; the store resumes
// from the handle and offset it recorded earlier.
func (e *env) testCrashAfterPartUpload(t *testing.T) {
	for _, c := range []struct {
		name string
		// recorded: where the store recorded the upload; sent: how far the
		// dead process got; total: the length of what the client then
		// sends from recorded (with other bytes than the first time when
		// other is set).
		recorded, sent, total int
		other                 bool
		mismatch              bool // the object cannot be the blob: Commit says so
	}{
		{"same bytes", 3 << 20, 3<<20 + 2*part, 3*part + 777, false, false},
		{"other bytes", 3 << 20, 3<<20 + 2*part, 2*part + 5, true, false},
		{"back under a part", 3 << 20, 3<<20 + 2*part, 4 << 20, true, false},
		{"stale part beyond the end", 3 << 20, 3*part + 1, part + 1000, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			cfg := e.config(t)
			first := storetest.Payload(31, c.sent)
			data := storetest.Payload(31, c.total)
			if c.other {
				copy(data[c.recorded:], storetest.Payload(32, c.total-c.recorded))
			}
			d := digest.FromBytes(data)

			b1, err := storj.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			st, err := b1.Stage(ctx, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			write(t, st, first[:c.recorded])
			h := st.Handle() // what the store recorded
			write(t, st, first[c.recorded:])
			if got := handleParts(t, st.Handle()); got == "0" {
				t.Fatalf("no part uploaded after %d bytes", c.sent)
			}
			st.Close()
			b1.Close() // dies before recording the new handle

			b2 := e.open(t, cfg)
			st, err = b2.Stage(ctx, h, int64(c.recorded))
			if err != nil {
				t.Fatalf("Stage(recorded handle, %d): %v", c.recorded, err)
			}
			write(t, st, data[c.recorded:])
			err = st.Commit(ctx, d, true)
			if c.mismatch {
				if !errors.Is(err, store.ErrDigestMismatch) {
					t.Fatalf("Commit(verify) = %v, want ErrDigestMismatch", err)
				}
				if err := st.Abort(ctx); err != nil {
					t.Fatalf("Abort: %v", err)
				}
				if _, err := b2.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Stat after a mismatch: %v, want ErrNotFound", err)
				}
				wantNone(t, "objects after the mismatch", e.objects(t, cfg.Bucket))
			} else {
				if err != nil {
					t.Fatalf("Commit(verify): %v", err)
				}
				st.Close()
				wantBlob(t, b2, d, data)
			}
			wantNone(t, "multipart uploads at the end", e.pending(t, cfg.Bucket))
			wantNone(t, "spool at the end", spoolFiles(t, cfg.SpoolDir))
		})
	}
}

func wantStoreBlob(t *testing.T, s *store.Store, repo string, d digest.Digest, data []byte) {
	t.Helper()
	ctx := t.Context()
	if n, err := s.StatBlob(ctx, repo, d); err != nil || n != int64(len(data)) {
		t.Fatalf("StatBlob = %d, %v; want %d", n, err, len(data))
	}
	rc, err := s.OpenBlob(ctx, repo, d, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("OpenBlob: %d bytes, %v; want the %d bytes pushed", len(got), err, len(data))
	}
	if err := s.VerifyBlob(ctx, repo, d); err != nil {
		t.Fatalf("VerifyBlob: %v", err)
	}
}

// testStoreRestart: a store session with parts in Storj continues in a new
// Store over a new backend (a restarted server), as the store drives it.
func (e *env) testStoreRestart(t *testing.T) {
	ctx := t.Context()
	cfg := e.config(t)
	root := t.TempDir()
	const repo = "restart/me"
	data := storetest.Payload(41, 2*part+part/2+3)
	d := digest.FromBytes(data)
	cut1, cut2 := part+part/3, 2*part+7

	b1, err := storj.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := store.Open(ctx, store.Options{Root: root, Backend: b1})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s1.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if off, err := s1.AppendUpload(ctx, repo, u.ID, 0, int64(cut1), bytes.NewReader(data[:cut1])); err != nil || off != int64(cut1) {
		t.Fatalf("AppendUpload = %d, %v", off, err)
	}
	s1.Close()
	b1.Close()

	b2 := e.open(t, cfg)
	s2, err := store.Open(ctx, store.Options{Root: root, Backend: b2})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st, err := s2.UploadStatus(ctx, repo, u.ID); err != nil || st.Offset != int64(cut1) {
		t.Fatalf("UploadStatus after restart = %+v, %v; want offset %d", st, err, cut1)
	}
	if off, err := s2.AppendUpload(ctx, repo, u.ID, int64(cut1), int64(cut2-cut1), bytes.NewReader(data[cut1:cut2])); err != nil || off != int64(cut2) {
		t.Fatalf("AppendUpload after restart = %d, %v", off, err)
	}
	if n, err := s2.FinishUpload(ctx, repo, u.ID, d, int64(cut2), int64(len(data)-cut2), bytes.NewReader(data[cut2:])); err != nil || n != int64(len(data)) {
		t.Fatalf("FinishUpload after restart = %d, %v", n, err)
	}
	wantStoreBlob(t, s2, repo, d, data)
	wantNone(t, "multipart uploads", e.pending(t, cfg.Bucket))
}

// testAbortAndExpire: a cancelled, expired or aborted upload leaves no
// multipart upload in Storj and nothing in the spool.
func (e *env) testAbortAndExpire(t *testing.T) {
	ctx := t.Context()
	cfg := e.config(t)
	b := e.open(t, cfg)
	s, err := store.Open(ctx, store.Options{Root: t.TempDir(), Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const repo = "abort/me"
	data := storetest.Payload(51, 2*part+10)

	start := func() *store.Upload {
		t.Helper()
		u, err := s.StartUpload(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendUpload(ctx, repo, u.ID, 0, int64(len(data)), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if p := e.pending(t, cfg.Bucket); len(p) != 1 {
			t.Fatalf("multipart uploads in progress: %q, want one", p)
		}
		return u
	}

	u := start()
	if err := s.CancelUpload(ctx, repo, u.ID); err != nil {
		t.Fatal(err)
	}
	wantNone(t, "multipart uploads after cancel", e.pending(t, cfg.Bucket))
	wantNone(t, "spool after cancel", spoolFiles(t, cfg.SpoolDir))

	u = start()
	time.Sleep(5 * time.Millisecond) // idle for longer than the 1ms below
	if n, err := s.ExpireUploads(ctx, time.Millisecond); err != nil || n != 1 {
		t.Fatalf("ExpireUploads = %d, %v; want 1", n, err)
	}
	wantNone(t, "multipart uploads after expiry", e.pending(t, cfg.Bucket))
	wantNone(t, "spool after expiry", spoolFiles(t, cfg.SpoolDir))
	if _, err := s.UploadStatus(ctx, repo, u.ID); err == nil {
		t.Fatal("the expired session still answers")
	}

	// A staged upload resumed and aborted.
	st, err := b.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, data)
	h := st.Handle()
	st.Close()
	st, err = b.Stage(ctx, h, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	wantNone(t, "multipart uploads after Abort", e.pending(t, cfg.Bucket))
	wantNone(t, "spool after Abort", spoolFiles(t, cfg.SpoolDir))
	if _, err := b.Stage(ctx, h, int64(len(data))); err == nil {
		t.Fatal("an aborted upload resumed")
	}
	wantNone(t, "objects", e.objects(t, cfg.Bucket))
}

// testCommitRetry: a Commit that fails after committing the multipart
// upload (here: the network goes down while it downloads the staging
// object to verify it) can be tried again from the handle: the staging
// object is taken as it is if the bytes sent again make the same blob.
func (e *env) testCommitRetry(t *testing.T) {
	ctx := t.Context()
	f := newFaults()
	cfg := e.config(t)
	cfg.Uplink = uplink.Config{DialContext: f.dial}
	cfg.Retries = 1
	b := e.open(t, cfg)
	data := storetest.Payload(91, 2*part+1000)
	d := digest.FromBytes(data)
	recorded := part + 10

	st, err := b.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, data[:recorded])
	h := st.Handle()
	write(t, st, data[recorded:])
	// Uploading the last part and committing receive little; the
	// verification downloads the whole blob.
	f.downAfterRead.Store(2 << 20)
	if err := st.Commit(ctx, d, true); err == nil || errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Commit(verify) with the network going down during the verification = %v, want a network error", err)
	}
	st.Close()
	if f.cuts.Load() != 1 {
		t.Fatal("the network did not go down during the Commit")
	}
	f.downAfterRead.Store(0)
	f.refuse.Store(0)
	if _, err := b.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Stat after the failed Commit: %v, want ErrNotFound", err)
	}
	wantNone(t, "multipart uploads after the failed Commit (it was committed)", e.pending(t, cfg.Bucket))

	// The store resumes at what it recorded and the client sends the rest
	// again.
	st, err = b.Stage(ctx, h, int64(recorded))
	if err != nil {
		t.Fatalf("Stage after the failed Commit: %v", err)
	}
	write(t, st, data[recorded:])
	if err := st.Commit(ctx, d, true); err != nil {
		t.Fatalf("Commit again: %v", err)
	}
	st.Close()
	wantBlob(t, b, d, data)
	if o := e.objects(t, cfg.Bucket); len(o) != 1 {
		t.Fatalf("objects %q, want only the blob", o)
	}
	wantNone(t, "spool", spoolFiles(t, cfg.SpoolDir))

	// The same, but other bytes are sent again: not that blob.
	other := storetest.Payload(92, len(data))
	copy(other, data[:recorded])
	od := digest.FromBytes(other)
	st, err = b.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, other[:recorded])
	h = st.Handle()
	write(t, st, other[recorded:])
	f.downAfterRead.Store(2 << 20)
	if err := st.Commit(ctx, od, true); err == nil {
		t.Fatal("Commit with the network going down succeeded")
	}
	st.Close()
	f.downAfterRead.Store(0)
	f.refuse.Store(0)
	st, err = b.Stage(ctx, h, int64(recorded))
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, data[recorded:]) // not what was staged
	if err := st.Commit(ctx, d, false); !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Commit of other bytes over a committed staging object = %v, want ErrDigestMismatch", err)
	}
	if err := st.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, od); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Stat(%s): %v, want ErrNotFound", od, err)
	}
	if o := e.objects(t, cfg.Bucket); len(o) != 1 {
		t.Fatalf("objects %q, want only the first blob", o)
	}
	wantNone(t, "spool at the end", spoolFiles(t, cfg.SpoolDir))
}

// testTransientFaults: the network fails in the middle of a part upload
// and of a read, and refuses connections during a commit, a stat and a
// delete; every operation is retried and succeeds, with the right bytes.
func (e *env) testTransientFaults(t *testing.T) {
	ctx := t.Context()
	f := newFaults()
	var retried atomic.Int64
	cfg := e.config(t)
	cfg.Uplink = uplink.Config{DialContext: f.dial}
	cfg.RetryBackoff = 20 * time.Millisecond
	cfg.OnRetry = func(err error) {
		retried.Add(1)
		t.Logf("retrying after: %v", err)
	}
	b := e.open(t, cfg)
	data := storetest.Payload(61, 2*part+part/2)
	d := digest.FromBytes(data)

	st, err := b.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, data[:part+1]) // part 1 uploaded
	// Part 2 is uploaded during this Write; every connection is cut once
	// 1 MiB of it has gone out. Storj cannot finish that upload, the
	// backend has to send the part again from its spool.
	f.cutAfter(1 << 20)
	if _, err := st.Write(data[part+1 : 2*part+1]); err != nil {
		t.Fatalf("Write through a cut network: %v", err)
	}
	// Whether the backend's own retry runs depends on where the cut lands:
	// uplink recovers some cuts itself (its dials are retried), so only the
	// cut is required here; the bytes are checked once the blob commits.
	if f.cuts.Load() != 1 {
		t.Fatalf("%d cuts: want the part upload cut once", f.cuts.Load())
	}
	t.Logf("part upload cut once; backend retries: %d", retried.Load())
	write(t, st, data[2*part+1:])

	// Connections refused: the uplink library retries dials itself, the
	// backend on top when that is not enough.
	outage := func(what string, refuse int64, op func() error) {
		t.Helper()
		before := f.refused.Load()
		f.cut()
		f.refuse.Store(refuse)
		if err := op(); err != nil {
			t.Fatalf("%s through an outage: %v", what, err)
		}
		if got := f.refused.Load() - before; got != refuse {
			t.Fatalf("%s: %d connections refused, want %d (the outage did not happen?)", what, got, refuse)
		}
	}
	outage("commit", 3, func() error { return st.Commit(ctx, d, false) })
	st.Close()
	outage("stat", 2, func() error { _, err := b.Stat(ctx, d); return err })
	wantBlob(t, b, d, data)

	// Cut in the middle of a read: it goes on where it was.
	rc, err := b.Open(ctx, d, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3<<20)
	if _, err := io.ReadFull(rc, got); err != nil {
		t.Fatal(err)
	}
	f.cut()
	rest, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("reading across a cut: %v", err)
	}
	if got = append(got, rest...); !bytes.Equal(got, data) {
		t.Fatalf("read across a cut: %d bytes (%s), want %d (%s)", len(got), digest.FromBytes(got), len(data), d)
	}
	outage("delete", 2, func() error { return b.Delete(ctx, d) })
	if _, err := b.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v", err)
	}
	t.Logf("%d retries in all", retried.Load())
}

// testFaultsBeyondRetries: when Storj stays unreachable during a PATCH,
// the chunk fails, the session keeps what was recorded, and it resumes
// once the network is back.
func (e *env) testFaultsBeyondRetries(t *testing.T) {
	ctx := t.Context()
	f := newFaults()
	cfg := e.config(t)
	cfg.Uplink = uplink.Config{DialContext: f.dial}
	cfg.Retries = 1 // the uplink library retries refused dials for seconds already
	b := e.open(t, cfg)
	s, err := store.Open(ctx, store.Options{Root: t.TempDir(), Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const repo = "flaky/net"
	data := storetest.Payload(71, 2*part+part/2)
	d := digest.FromBytes(data)
	first, second := 3<<20, part+part/2

	u, err := s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, repo, u.ID, 0, int64(first), bytes.NewReader(data[:first])); err != nil {
		t.Fatal(err)
	}
	f.cut()
	f.refuse.Store(1 << 40) // down
	off, err := s.AppendUpload(ctx, repo, u.ID, int64(first), int64(second-first), bytes.NewReader(data[first:second]))
	if err == nil {
		t.Fatalf("AppendUpload with Storj unreachable succeeded (offset %d)", off)
	}
	t.Logf("AppendUpload with Storj unreachable: offset %d, %v", off, err)
	f.refuse.Store(0) // back
	st, err := s.UploadStatus(ctx, repo, u.ID)
	if err != nil {
		t.Fatalf("UploadStatus after the failed chunk: %v", err)
	}
	if st.Offset != off || st.Offset < int64(first) || st.Offset > int64(second) {
		t.Fatalf("after the failed chunk the session is at %d (AppendUpload said %d), want it between %d and %d", st.Offset, off, first, second)
	}
	if _, err := s.AppendUpload(ctx, repo, u.ID, st.Offset, int64(second)-st.Offset, bytes.NewReader(data[st.Offset:second])); err != nil {
		t.Fatalf("resuming at %d: %v", st.Offset, err)
	}
	if _, err := s.FinishUpload(ctx, repo, u.ID, d, int64(second), int64(len(data)-second), bytes.NewReader(data[second:])); err != nil {
		t.Fatalf("FinishUpload: %v", err)
	}
	wantStoreBlob(t, s, repo, d, data)
	wantNone(t, "multipart uploads", e.pending(t, cfg.Bucket))
}

// testRangeRead: a range is read without downloading the blob.
func (e *env) testRangeRead(t *testing.T) {
	ctx := t.Context()
	f := newFaults()
	cfg := e.config(t)
	cfg.Uplink = uplink.Config{DialContext: f.dial}
	b := e.open(t, cfg)
	data := storetest.Payload(81, 5*part+99) // six segments
	d := digest.FromBytes(data)
	st, err := b.Stage(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, st, data)
	if err := st.Commit(ctx, d, false); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, r := range []struct{ off, n int }{
		{3*part + 12345, 1 << 20},
		{part - 100, 200}, // across a segment boundary
		{len(data) - 10, 10},
		{len(data) - 10, -1},
		{len(data), -1},
	} {
		before := f.read.Load()
		rc, err := b.Open(ctx, d, int64(r.off), int64(r.n))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		end := len(data)
		if r.n >= 0 {
			end = r.off + r.n
		}
		if !bytes.Equal(got, data[r.off:end]) {
			t.Fatalf("Open(%d, %d): %d bytes, not the range", r.off, r.n, len(got))
		}
		// Erasure coding and framing cost something; the whole blob is
		// more than 25 MiB.
		if in := f.read.Load() - before; in > 8<<20 {
			t.Fatalf("Open(%d, %d) of a %d-byte blob received %d bytes from the network: the whole blob, not the range", r.off, r.n, len(data), in)
		}
	}
}
