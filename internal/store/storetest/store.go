package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/store"
)

// RunStore runs the Store suite. newStore returns a new, empty Store for
// each subtest and registers its Close with t.Cleanup (Close may then be
// called twice: the resume test closes a store itself). The resume test
// reopens the store with store.Open(Options{Root: s.Root(), Backend:
// s.Backend()}), as a restarted server would.
func RunStore(t *testing.T, newStore func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, *store.Store)
	}{
		{"PutBlob", testPutBlob},
		{"ChunkedUpload", testChunkedUpload},
		{"UploadErrors", testUploadErrors},
		{"CancelUpload", testCancelUpload},
		{"InterruptedChunk", testInterruptedChunk},
		{"RacingChunks", testRacingChunks},
		{"Membership", testMembership},
		{"DeleteBlob", testDeleteBlob},
		{"Manifests", testManifests},
		{"Index", testIndex},
		{"ManifestRefs", testManifestRefs},
		{"ManifestSize", testManifestSize},
		{"Tags", testTags},
		{"Catalog", testCatalog},
		{"Referrers", testReferrers},
		{"DeleteManifest", testDeleteManifest},
		{"Concurrent", testStoreConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
	t.Run("ResumeAfterReopen", func(t *testing.T) { testResumeAfterReopen(t, newStore(t)) })
}

// putBlob stores data in repo monolithically and returns its digest.
func putBlob(t *testing.T, s *store.Store, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	n, err := s.PutBlob(ctxOf(t), repo, d, int64(len(data)), bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("PutBlob(%s, %s) = %d, %v; want %d", repo, d, n, err, len(data))
	}
	return d
}

// wantStoreBlob checks that repo can read blob d and that it holds data.
func wantStoreBlob(t *testing.T, s *store.Store, repo string, d digest.Digest, data []byte) {
	t.Helper()
	ctx := ctxOf(t)
	n, err := s.StatBlob(ctx, repo, d)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("StatBlob(%s, %s) = %d, %v; want %d", repo, d, n, err, len(data))
	}
	rc, err := s.OpenBlob(ctx, repo, d, 0, -1)
	wantBytes(t, readAll(t, rc, err, "OpenBlob"), data, "OpenBlob "+repo)
	if err := s.VerifyBlob(ctx, repo, d); err != nil {
		t.Fatalf("VerifyBlob(%s, %s): %v", repo, d, err)
	}
}

// wantNoBlob checks that repo cannot read blob d.
func wantNoBlob(t *testing.T, s *store.Store, repo string, d digest.Digest, what string) {
	t.Helper()
	ctx := ctxOf(t)
	_, err := s.StatBlob(ctx, repo, d)
	wantCode(t, err, oci.CodeBlobUnknown, what+": StatBlob")
	rc, err := s.OpenBlob(ctx, repo, d, 0, -1)
	if err == nil {
		rc.Close()
	}
	wantCode(t, err, oci.CodeBlobUnknown, what+": OpenBlob")
}

// image is a test image: a config and layers, pushed as blobs on demand.
type image struct {
	config []byte
	layers [][]byte
}

func newImage(seed uint64, layers int) *image {
	img := &image{config: []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","seed":%d}`, seed))}
	for i := range layers {
		img.layers = append(img.layers, Payload(seed*1000+uint64(i), 1000+int(seed%7)*100+i))
	}
	return img
}

func (img *image) pushBlobs(t *testing.T, s *store.Store, repo string) {
	t.Helper()
	putBlob(t, s, repo, img.config)
	for _, l := range img.layers {
		putBlob(t, s, repo, l)
	}
}

func descOf(mediaType string, data []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func (img *image) manifest() v1.Manifest {
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    descOf(v1.MediaTypeImageConfig, img.config),
		Layers:    []v1.Descriptor{},
	}
	for _, l := range img.layers {
		m.Layers = append(m.Layers, descOf(v1.MediaTypeImageLayerGzip, l))
	}
	return m
}

func (img *image) body() []byte { return mustJSON(img.manifest()) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// putManifest stores body under ref and checks what PutManifest reports.
func putManifest(t *testing.T, s *store.Store, repo, ref, mediaType string, body []byte) digest.Digest {
	t.Helper()
	res, err := s.PutManifest(ctxOf(t), repo, ref, mediaType, body)
	if err != nil {
		t.Fatalf("PutManifest(%s, %s): %v", repo, ref, err)
	}
	if want := digest.FromBytes(body); res.Digest != want {
		t.Fatalf("PutManifest digest %s, want %s", res.Digest, want)
	}
	return res.Digest
}

func wantManifest(t *testing.T, s *store.Store, repo, ref, mediaType string, body []byte) {
	t.Helper()
	m, err := s.GetManifest(ctxOf(t), repo, ref)
	if err != nil {
		t.Fatalf("GetManifest(%s, %s): %v", repo, ref, err)
	}
	if !bytes.Equal(m.Body, body) || m.Digest != digest.FromBytes(body) || m.MediaType != mediaType {
		t.Fatalf("GetManifest(%s, %s) = %s %s (%d bytes), want %s %s (%d bytes)", repo, ref, m.Digest, m.MediaType, len(m.Body), digest.FromBytes(body), mediaType, len(body))
	}
}

func wantNoManifest(t *testing.T, s *store.Store, repo, ref, what string) {
	t.Helper()
	_, err := s.GetManifest(ctxOf(t), repo, ref)
	wantCode(t, err, oci.CodeManifestUnknown, what+": GetManifest("+repo+", "+ref+")")
}

func wantList(t *testing.T, got []string, more bool, err error, want []string, wantMore bool, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !slices.Equal(got, want) || more != wantMore {
		t.Fatalf("%s = %q (more %v), want %q (more %v)", what, got, more, want, wantMore)
	}
}

func testPutBlob(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "library/app"
	data := Payload(20, 100_000)
	d := putBlob(t, s, repo, data)
	wantStoreBlob(t, s, repo, d, data)
	rc, err := s.OpenBlob(ctx, repo, d, 10, 100)
	wantBytes(t, readAll(t, rc, err, "OpenBlob range"), data[10:110], "OpenBlob range")
	rc, err = s.OpenBlob(ctx, repo, d, 99_990, 100)
	wantBytes(t, readAll(t, rc, err, "OpenBlob range past the end"), data[99_990:], "OpenBlob range past the end")

	// Again: deduplicated, still fine.
	putBlob(t, s, repo, data)
	wantStoreBlob(t, s, repo, d, data)

	// Unknown size.
	other := Payload(21, 5000)
	od := digest.FromBytes(other)
	if n, err := s.PutBlob(ctx, repo, od, -1, bytes.NewReader(other)); err != nil || n != 5000 {
		t.Fatalf("PutBlob of unknown size = %d, %v", n, err)
	}
	wantStoreBlob(t, s, repo, od, other)

	// Zero length.
	ed := putBlob(t, s, repo, nil)
	wantStoreBlob(t, s, repo, ed, nil)

	// Wrong digest: nothing stored, under either digest.
	wrong := Payload(22, 3000)
	claimed := digest.FromString("something else")
	_, err = s.PutBlob(ctx, repo, claimed, int64(len(wrong)), bytes.NewReader(wrong))
	wantCode(t, err, oci.CodeDigestInvalid, "PutBlob with a wrong digest")
	wantNoBlob(t, s, repo, claimed, "claimed digest")
	wantNoBlob(t, s, repo, digest.FromBytes(wrong), "actual digest of rejected content")
	if _, err := s.Backend().Stat(ctx, digest.FromBytes(wrong)); err == nil {
		t.Fatalf("rejected content was committed to the backend")
	}

	// A body shorter than the declared size.
	short := Payload(23, 1000)
	sd := digest.FromBytes(short)
	_, err = s.PutBlob(ctx, repo, sd, 2000, bytes.NewReader(short))
	wantCode(t, err, oci.CodeSizeInvalid, "PutBlob with a short body")
	wantNoBlob(t, s, repo, sd, "short body")

	// Invalid repository names.
	for _, name := range []string{"UPPER", "../etc", "a//b", "", strings.Repeat("a", 256)} {
		_, err := s.PutBlob(ctx, name, d, int64(len(data)), bytes.NewReader(data))
		wantCode(t, err, oci.CodeNameInvalid, fmt.Sprintf("PutBlob to %q", name))
	}
}

func testChunkedUpload(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "chunky"
	data := Payload(30, 300_000)
	d := digest.FromBytes(data)
	u, err := s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.Offset != 0 || u.Repo != repo {
		t.Fatalf("StartUpload = %+v", u)
	}
	status := func(want int64) {
		t.Helper()
		st, err := s.UploadStatus(ctx, repo, u.ID)
		if err != nil || st.Offset != want || st.ID != u.ID {
			t.Fatalf("UploadStatus = %+v, %v; want offset %d", st, err, want)
		}
	}
	status(0)
	off, err := s.AppendUpload(ctx, repo, u.ID, 0, 100_000, bytes.NewReader(data[:100_000]))
	if err != nil || off != 100_000 {
		t.Fatalf("AppendUpload first chunk = %d, %v", off, err)
	}
	status(100_000)

	// Out of order: the chunk repeats or skips bytes.
	for _, start := range []int64{0, 99_999, 100_001, 150_000} {
		_, err := s.AppendUpload(ctx, repo, u.ID, start, 100_000, bytes.NewReader(data[100_000:200_000]))
		wantCode(t, err, oci.CodeBlobUploadInvalid, fmt.Sprintf("AppendUpload at %d", start))
		wantStatus(t, err, http.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("AppendUpload at %d", start))
		status(100_000)
	}

	// A chunk without Content-Range or length (a streamed PATCH).
	off, err = s.AppendUpload(ctx, repo, u.ID, -1, -1, bytes.NewReader(data[100_000:200_000]))
	if err != nil || off != 200_000 {
		t.Fatalf("AppendUpload streamed chunk = %d, %v", off, err)
	}
	status(200_000)
	wantNoBlob(t, s, repo, d, "upload in progress")

	// The final chunk out of order.
	_, err = s.FinishUpload(ctx, repo, u.ID, d, 100, int64(len(data)-200_000), bytes.NewReader(data[200_000:]))
	wantStatus(t, err, http.StatusRequestedRangeNotSatisfiable, "FinishUpload at the wrong offset")
	status(200_000)

	n, err := s.FinishUpload(ctx, repo, u.ID, d, 200_000, int64(len(data)-200_000), bytes.NewReader(data[200_000:]))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("FinishUpload = %d, %v", n, err)
	}
	wantStoreBlob(t, s, repo, d, data)
	_, err = s.UploadStatus(ctx, repo, u.ID)
	wantCode(t, err, oci.CodeBlobUploadUnknown, "UploadStatus after FinishUpload")
	_, err = s.AppendUpload(ctx, repo, u.ID, -1, -1, bytes.NewReader([]byte("more")))
	wantCode(t, err, oci.CodeBlobUploadUnknown, "AppendUpload after FinishUpload")

	// All chunks by AppendUpload, FinishUpload without a body.
	data2 := Payload(31, 50_000)
	u, err = s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data2); off += 8192 {
		end := min(off+8192, len(data2))
		if got, err := s.AppendUpload(ctx, repo, u.ID, int64(off), int64(end-off), bytes.NewReader(data2[off:end])); err != nil || got != int64(end) {
			t.Fatalf("AppendUpload at %d = %d, %v", off, got, err)
		}
	}
	if n, err := s.FinishUpload(ctx, repo, u.ID, digest.FromBytes(data2), -1, -1, nil); err != nil || n != int64(len(data2)) {
		t.Fatalf("FinishUpload without a body = %d, %v", n, err)
	}
	wantStoreBlob(t, s, repo, digest.FromBytes(data2), data2)

	// An empty session finished as the empty blob.
	u, err = s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.FinishUpload(ctx, repo, u.ID, digest.FromBytes(nil), -1, -1, nil); err != nil || n != 0 {
		t.Fatalf("FinishUpload of an empty session = %d, %v", n, err)
	}
	wantStoreBlob(t, s, repo, digest.FromBytes(nil), nil)
}

func testUploadErrors(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo, other = "uploads/a", "uploads/b"
	for _, id := range []string{"", "0123456789abcdef0123456789abcdef", "../../../etc/passwd", "ZZZZ", strings.Repeat("a", 1000)} {
		_, err := s.UploadStatus(ctx, repo, id)
		wantCode(t, err, oci.CodeBlobUploadUnknown, fmt.Sprintf("UploadStatus(%q)", id))
		_, err = s.AppendUpload(ctx, repo, id, -1, -1, bytes.NewReader([]byte("x")))
		wantCode(t, err, oci.CodeBlobUploadUnknown, fmt.Sprintf("AppendUpload(%q)", id))
		_, err = s.FinishUpload(ctx, repo, id, digest.FromString("x"), -1, -1, bytes.NewReader([]byte("x")))
		wantCode(t, err, oci.CodeBlobUploadUnknown, fmt.Sprintf("FinishUpload(%q)", id))
		wantCode(t, s.CancelUpload(ctx, repo, id), oci.CodeBlobUploadUnknown, fmt.Sprintf("CancelUpload(%q)", id))
	}
	_, err := s.StartUpload(ctx, "Bad Name")
	wantCode(t, err, oci.CodeNameInvalid, "StartUpload with an invalid name")

	// A session belongs to its repository.
	data := Payload(40, 20_000)
	d := digest.FromBytes(data)
	u, err := s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, repo, u.ID, 0, 10_000, bytes.NewReader(data[:10_000])); err != nil {
		t.Fatal(err)
	}
	_, err = s.UploadStatus(ctx, other, u.ID)
	wantCode(t, err, oci.CodeBlobUploadUnknown, "UploadStatus from another repository")
	_, err = s.AppendUpload(ctx, other, u.ID, 10_000, 10_000, bytes.NewReader(data[10_000:]))
	wantCode(t, err, oci.CodeBlobUploadUnknown, "AppendUpload from another repository")
	_, err = s.FinishUpload(ctx, other, u.ID, d, 10_000, 10_000, bytes.NewReader(data[10_000:]))
	wantCode(t, err, oci.CodeBlobUploadUnknown, "FinishUpload from another repository")
	wantCode(t, s.CancelUpload(ctx, other, u.ID), oci.CodeBlobUploadUnknown, "CancelUpload from another repository")
	wantNoBlob(t, s, other, d, "other repository")
	// ...and is untouched by those attempts.
	if n, err := s.FinishUpload(ctx, repo, u.ID, d, 10_000, 10_000, bytes.NewReader(data[10_000:])); err != nil || n != 20_000 {
		t.Fatalf("FinishUpload in its own repository = %d, %v", n, err)
	}
	wantStoreBlob(t, s, repo, d, data)
	wantNoBlob(t, s, other, d, "other repository after finishing")

	// A chunk shorter than its declared length.
	u, err = s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendUpload(ctx, repo, u.ID, 0, 200, bytes.NewReader(data[:100]))
	wantCode(t, err, oci.CodeSizeInvalid, "AppendUpload with a short chunk")
	if st, err := s.UploadStatus(ctx, repo, u.ID); err != nil || st.Offset > 100 {
		t.Fatalf("UploadStatus after a short chunk = %+v, %v; want at most the 100 bytes received", st, err)
	}

	// A wrong digest ends the session and stores nothing.
	u, err = s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	wrong := Payload(41, 5000)
	claimed := digest.FromString("not this")
	_, err = s.FinishUpload(ctx, repo, u.ID, claimed, 0, int64(len(wrong)), bytes.NewReader(wrong))
	wantCode(t, err, oci.CodeDigestInvalid, "FinishUpload with a wrong digest")
	wantNoBlob(t, s, repo, claimed, "wrong digest")
	wantNoBlob(t, s, repo, digest.FromBytes(wrong), "content under a wrong digest")
	_, err = s.UploadStatus(ctx, repo, u.ID)
	wantCode(t, err, oci.CodeBlobUploadUnknown, "UploadStatus after a digest mismatch")
}

func testCancelUpload(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "cancel/me"
	data := Payload(50, 30_000)
	d := digest.FromBytes(data)
	u, err := s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, repo, u.ID, 0, 10_000, bytes.NewReader(data[:10_000])); err != nil {
		t.Fatal(err)
	}
	if err := s.CancelUpload(ctx, repo, u.ID); err != nil {
		t.Fatalf("CancelUpload: %v", err)
	}
	_, err = s.UploadStatus(ctx, repo, u.ID)
	wantCode(t, err, oci.CodeBlobUploadUnknown, "UploadStatus after CancelUpload")
	_, err = s.AppendUpload(ctx, repo, u.ID, 10_000, 20_000, bytes.NewReader(data[10_000:]))
	wantCode(t, err, oci.CodeBlobUploadUnknown, "AppendUpload after CancelUpload")
	_, err = s.FinishUpload(ctx, repo, u.ID, d, -1, -1, nil)
	wantCode(t, err, oci.CodeBlobUploadUnknown, "FinishUpload after CancelUpload")
	wantCode(t, s.CancelUpload(ctx, repo, u.ID), oci.CodeBlobUploadUnknown, "CancelUpload twice")
	wantNoBlob(t, s, repo, d, "cancelled upload")
	// Cancelling a fresh session works too, and others are unaffected.
	keep, err := s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	u, err = s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CancelUpload(ctx, repo, u.ID); err != nil {
		t.Fatalf("CancelUpload of an empty session: %v", err)
	}
	if n, err := s.FinishUpload(ctx, repo, keep.ID, d, 0, int64(len(data)), bytes.NewReader(data)); err != nil || n != int64(len(data)) {
		t.Fatalf("FinishUpload of another session = %d, %v", n, err)
	}
	wantStoreBlob(t, s, repo, d, data)
}

// failingReader yields its bytes, then fails like a dropped connection.
type failingReader struct{ r io.Reader }

var errDropped = errors.New("connection dropped")

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errDropped
	}
	return n, err
}

func testInterruptedChunk(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "flaky/net"
	data := Payload(55, 100_000)
	d := digest.FromBytes(data)
	u, err := s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	// The client declared 60000 bytes but the connection dropped after
	// 30000: those are kept, and the status says where to resume.
	off, err := s.AppendUpload(ctx, repo, u.ID, 0, 60_000, failingReader{bytes.NewReader(data[:30_000])})
	if !errors.Is(err, errDropped) {
		t.Fatalf("AppendUpload with a dropped body: %v, want the reader's error", err)
	}
	if off != 30_000 {
		t.Fatalf("AppendUpload with a dropped body reported offset %d, want 30000", off)
	}
	if st, err := s.UploadStatus(ctx, repo, u.ID); err != nil || st.Offset != 30_000 {
		t.Fatalf("UploadStatus after a dropped chunk = %+v, %v; want 30000", st, err)
	}
	// The final request drops too.
	_, err = s.FinishUpload(ctx, repo, u.ID, d, 30_000, 70_000, failingReader{bytes.NewReader(data[30_000:50_000])})
	if !errors.Is(err, errDropped) {
		t.Fatalf("FinishUpload with a dropped body: %v, want the reader's error", err)
	}
	wantNoBlob(t, s, repo, d, "after a dropped final chunk")
	st, err := s.UploadStatus(ctx, repo, u.ID)
	if err != nil || st.Offset != 50_000 {
		t.Fatalf("UploadStatus after a dropped final chunk = %+v, %v; want 50000", st, err)
	}
	if n, err := s.FinishUpload(ctx, repo, u.ID, d, 50_000, 50_000, bytes.NewReader(data[50_000:])); err != nil || n != int64(len(data)) {
		t.Fatalf("FinishUpload after resuming = %d, %v", n, err)
	}
	wantStoreBlob(t, s, repo, d, data)
}

// testRacingChunks: two requests send the same chunk of one session at
// once; the session serialises them, so one is applied and the other finds
// the upload has moved on (416).
func testRacingChunks(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "racing/chunks"
	data := Payload(56, 2<<20)
	d := digest.FromBytes(data)
	u, err := s.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []int64{0, 1 << 20} {
		chunk := data[start : start+1<<20]
		const racers = 4
		errs := make(chan error, racers)
		var wg sync.WaitGroup
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.AppendUpload(ctx, repo, u.ID, start, int64(len(chunk)), bytes.NewReader(chunk))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			if err == nil {
				ok++
				continue
			}
			wantStatus(t, err, http.StatusRequestedRangeNotSatisfiable, "a losing racer")
		}
		if ok != 1 {
			t.Fatalf("%d of the racing chunks at %d were applied, want 1", ok, start)
		}
	}
	if n, err := s.FinishUpload(ctx, repo, u.ID, d, -1, -1, nil); err != nil || n != int64(len(data)) {
		t.Fatalf("FinishUpload = %d, %v", n, err)
	}
	wantStoreBlob(t, s, repo, d, data)
}

func testMembership(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	data := Payload(60, 10_000)
	d := putBlob(t, s, "repo/a", data)
	putBlob(t, s, "repo/c", Payload(61, 100)) // c exists but lacks d
	wantStoreBlob(t, s, "repo/a", d, data)
	wantNoBlob(t, s, "repo/b", d, "repository never pushed to")
	putBlob(t, s, "repo/b", Payload(62, 100))
	wantNoBlob(t, s, "repo/b", d, "repository holding other blobs")
	if err := s.VerifyBlob(ctx, "repo/b", d); err == nil {
		t.Fatalf("VerifyBlob from a repository without the blob succeeded")
	}

	for _, from := range []string{"repo/c", "repo/never", "repo/b", "Not/Valid", ""} {
		ok, err := s.MountBlob(ctx, from, "repo/b", d)
		if err != nil || ok {
			t.Fatalf("MountBlob from %q (lacking the blob) = %v, %v; want false, nil", from, ok, err)
		}
		wantNoBlob(t, s, "repo/b", d, "after a refused mount from "+from)
	}
	_, err := s.MountBlob(ctx, "repo/a", "In/Valid", d)
	wantCode(t, err, oci.CodeNameInvalid, "MountBlob to an invalid name")

	ok, err := s.MountBlob(ctx, "repo/a", "repo/b", d)
	if err != nil || !ok {
		t.Fatalf("MountBlob(repo/a -> repo/b) = %v, %v; want true", ok, err)
	}
	wantStoreBlob(t, s, "repo/b", d, data)
	wantStoreBlob(t, s, "repo/a", d, data)
	// Again, and into a new repository.
	if ok, err := s.MountBlob(ctx, "repo/a", "repo/b", d); err != nil || !ok {
		t.Fatalf("second MountBlob = %v, %v; want true", ok, err)
	}
	if ok, err := s.MountBlob(ctx, "repo/b", "repo/new", d); err != nil || !ok {
		t.Fatalf("MountBlob into a new repository = %v, %v; want true", ok, err)
	}
	wantStoreBlob(t, s, "repo/new", d, data)
	wantNoBlob(t, s, "repo/c", d, "repository not mounted into")

	// The same blob pushed to another repository directly.
	putBlob(t, s, "repo/c", data)
	wantStoreBlob(t, s, "repo/c", d, data)
}

func testDeleteBlob(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	data := Payload(70, 10_000)
	d := putBlob(t, s, "del/a", data)
	putBlob(t, s, "del/b", data)
	if err := s.DeleteBlob(ctx, "del/a", d); err != nil {
		t.Fatalf("DeleteBlob: %v", err)
	}
	wantNoBlob(t, s, "del/a", d, "after DeleteBlob")
	wantStoreBlob(t, s, "del/b", d, data) // the other repository keeps it
	wantCode(t, s.DeleteBlob(ctx, "del/a", d), oci.CodeBlobUnknown, "DeleteBlob twice")
	wantCode(t, s.DeleteBlob(ctx, "del/never", d), oci.CodeBlobUnknown, "DeleteBlob in an unknown repository")
	wantCode(t, s.DeleteBlob(ctx, "del/b", digest.FromString("never")), oci.CodeBlobUnknown, "DeleteBlob of an unknown blob")
	wantCode(t, s.DeleteBlob(ctx, "BAD", d), oci.CodeNameInvalid, "DeleteBlob with an invalid name")
	if ok, err := s.MountBlob(ctx, "del/a", "del/c", d); err != nil || ok {
		t.Fatalf("MountBlob from a repository that deleted the blob = %v, %v; want false", ok, err)
	}
	// Pushed again, it is back.
	putBlob(t, s, "del/a", data)
	wantStoreBlob(t, s, "del/a", d, data)
}

func testManifests(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "man/ifest"
	img := newImage(1, 2)
	body := img.body()
	d := digest.FromBytes(body)

	_, err := s.PutManifest(ctx, repo, "v1", v1.MediaTypeImageManifest, body)
	wantCode(t, err, oci.CodeManifestBlobUnknown, "PutManifest without its blobs")
	putBlob(t, s, repo, img.config)
	putBlob(t, s, repo, img.layers[0])
	_, err = s.PutManifest(ctx, repo, "v1", v1.MediaTypeImageManifest, body)
	wantCode(t, err, oci.CodeManifestBlobUnknown, "PutManifest missing one layer")
	putBlob(t, s, "man/other", img.layers[1]) // in another repository only
	_, err = s.PutManifest(ctx, repo, "v1", v1.MediaTypeImageManifest, body)
	wantCode(t, err, oci.CodeManifestBlobUnknown, "PutManifest with a layer in another repository")
	wantNoManifest(t, s, repo, "v1", "rejected manifest")
	wantNoManifest(t, s, repo, d.String(), "rejected manifest")

	putBlob(t, s, repo, img.layers[1])
	res, err := s.PutManifest(ctx, repo, "v1", v1.MediaTypeImageManifest, body)
	if err != nil {
		t.Fatalf("PutManifest with its blobs: %v", err)
	}
	if res.Digest != d || res.Tag != "v1" || res.Manifest == nil || len(res.Manifest.Layers) != 2 {
		t.Fatalf("PutManifest = %+v", res)
	}
	wantManifest(t, s, repo, "v1", v1.MediaTypeImageManifest, body)
	wantManifest(t, s, repo, d.String(), v1.MediaTypeImageManifest, body)
	wantNoManifest(t, s, repo, "v2", "unknown tag")
	wantNoManifest(t, s, repo, digest.FromString("x").String(), "unknown digest")
	wantNoManifest(t, s, "man/other", "v1", "other repository")
	wantNoManifest(t, s, "man/other", d.String(), "other repository")
	wantNoManifest(t, s, "man/never", "v1", "unknown repository")
	_, err = s.GetManifest(ctx, "NOPE", "v1")
	wantCode(t, err, oci.CodeNameInvalid, "GetManifest with an invalid name")

	// The same manifest again, by digest and under a second tag.
	putManifest(t, s, repo, d.String(), v1.MediaTypeImageManifest, body)
	putManifest(t, s, repo, "also", v1.MediaTypeImageManifest, body)
	wantManifest(t, s, repo, "also", v1.MediaTypeImageManifest, body)
	tags, _, err := s.Tags(ctx, repo, "", -1)
	wantList(t, tags, false, err, []string{"also", "v1"}, false, "Tags")

	// Retagging moves the tag; the old manifest stays by digest.
	img2 := newImage(2, 1)
	img2.pushBlobs(t, s, repo)
	body2 := img2.body()
	putManifest(t, s, repo, "v1", v1.MediaTypeImageManifest, body2)
	wantManifest(t, s, repo, "v1", v1.MediaTypeImageManifest, body2)
	wantManifest(t, s, repo, d.String(), v1.MediaTypeImageManifest, body)
	wantManifest(t, s, repo, "also", v1.MediaTypeImageManifest, body)

	// A Docker schema 2 manifest.
	dm := img2.manifest()
	dm.MediaType = oci.MediaTypeDockerManifest
	dm.Config.MediaType = "application/vnd.docker.container.image.v1+json"
	dm.Layers[0].MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	dbody := mustJSON(dm)
	putManifest(t, s, repo, "docker", oci.MediaTypeDockerManifest, dbody)
	wantManifest(t, s, repo, "docker", oci.MediaTypeDockerManifest, dbody)

	// A layer whose size differs from the blob's.
	bad := img2.manifest()
	bad.Layers[0].Size++
	_, err = s.PutManifest(ctx, repo, "badsize", v1.MediaTypeImageManifest, mustJSON(bad))
	wantCode(t, err, oci.CodeManifestInvalid, "PutManifest with a wrong layer size")
	wantNoManifest(t, s, repo, "badsize", "manifest with a wrong layer size")

	// Malformed input.
	for _, c := range []struct {
		name, ct string
		body     []byte
	}{
		{"not JSON", v1.MediaTypeImageManifest, []byte("{not json")},
		{"no schemaVersion", v1.MediaTypeImageManifest, []byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}}`)},
		{"Content-Type mismatch", v1.MediaTypeImageIndex, body},
		{"bad descriptor digest", v1.MediaTypeImageManifest, bytes.Replace(body, []byte("sha256:"), []byte("sha256:zz"), 1)},
	} {
		_, err := s.PutManifest(ctx, repo, "bad", c.ct, c.body)
		wantCode(t, err, oci.CodeManifestInvalid, "PutManifest: "+c.name)
	}
	for _, tag := range []string{"-lead", ".dot", "with space", strings.Repeat("t", 129)} {
		_, err := s.PutManifest(ctx, repo, tag, v1.MediaTypeImageManifest, body)
		wantCode(t, err, oci.CodeManifestInvalid, fmt.Sprintf("PutManifest with tag %q", tag))
	}
	_, err = s.PutManifest(ctx, "Bad/Name", "v1", v1.MediaTypeImageManifest, body)
	wantCode(t, err, oci.CodeNameInvalid, "PutManifest with an invalid name")
	wantNoManifest(t, s, repo, "bad", "malformed manifests")
}

func indexOf(children ...v1.Descriptor) []byte {
	return mustJSON(v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: children})
}

func testIndex(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "multi/arch"
	var children []v1.Descriptor
	var bodies [][]byte
	for i := range 2 {
		img := newImage(uint64(10+i), 1)
		img.pushBlobs(t, s, repo)
		body := img.body()
		d := putManifest(t, s, repo, digest.FromBytes(body).String(), v1.MediaTypeImageManifest, body)
		desc := descOf(v1.MediaTypeImageManifest, body)
		desc.Platform = &v1.Platform{Architecture: fmt.Sprint("arch", i), OS: "linux"}
		if desc.Digest != d {
			t.Fatalf("digest %s, want %s", d, desc.Digest)
		}
		children = append(children, desc)
		bodies = append(bodies, body)
	}
	// A third child, pushed only to another repository.
	img := newImage(12, 1)
	img.pushBlobs(t, s, "multi/other")
	third := img.body()
	putManifest(t, s, "multi/other", "x", v1.MediaTypeImageManifest, third)
	missing := descOf(v1.MediaTypeImageManifest, third)

	bad := indexOf(append(slices.Clone(children), missing)...)
	_, err := s.PutManifest(ctx, repo, "multi", v1.MediaTypeImageIndex, bad)
	wantCode(t, err, oci.CodeManifestBlobUnknown, "index with a missing child")
	wantNoManifest(t, s, repo, "multi", "index with a missing child")

	wrongSize := slices.Clone(children)
	wrongSize[1].Size--
	_, err = s.PutManifest(ctx, repo, "multi", v1.MediaTypeImageIndex, indexOf(wrongSize...))
	wantCode(t, err, oci.CodeManifestInvalid, "index with a wrong child size")

	body := indexOf(children...)
	res, err := s.PutManifest(ctx, repo, "multi", v1.MediaTypeImageIndex, body)
	if err != nil {
		t.Fatalf("PutManifest(index): %v", err)
	}
	if !res.Manifest.IsIndex || len(res.Manifest.Manifests) != 2 {
		t.Fatalf("PutManifest(index) parsed as %+v", res.Manifest)
	}
	wantManifest(t, s, repo, "multi", v1.MediaTypeImageIndex, body)
	wantManifest(t, s, repo, res.Digest.String(), v1.MediaTypeImageIndex, body)
	for i, c := range children {
		wantManifest(t, s, repo, c.Digest.String(), v1.MediaTypeImageManifest, bodies[i])
	}

	// Once the child is in the repository, the full index is accepted.
	img.pushBlobs(t, s, repo)
	putManifest(t, s, repo, missing.Digest.String(), v1.MediaTypeImageManifest, third)
	putManifest(t, s, repo, "multi3", v1.MediaTypeImageIndex, bad)
	wantManifest(t, s, repo, "multi3", v1.MediaTypeImageIndex, bad)
}

func testManifestRefs(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "refs/test"
	img := newImage(3, 1)
	img.pushBlobs(t, s, repo)
	body := img.body()
	d := digest.FromBytes(body)

	// 64 bare hex equal to the body's sha256: by digest, no tag.
	res, err := s.PutManifest(ctx, repo, d.Encoded(), v1.MediaTypeImageManifest, body)
	if err != nil {
		t.Fatalf("PutManifest by bare hex: %v", err)
	}
	if res.Tag != "" || res.Digest != d {
		t.Fatalf("PutManifest by bare hex = tag %q digest %s; want no tag, %s", res.Tag, res.Digest, d)
	}
	wantManifest(t, s, repo, d.String(), v1.MediaTypeImageManifest, body)
	tags, more, err := s.Tags(ctx, repo, "", -1)
	wantList(t, tags, more, err, []string{}, false, "Tags after a bare-hex push")

	// A digest reference that is not the body's.
	other := digest.FromString("another body")
	_, err = s.PutManifest(ctx, repo, other.String(), v1.MediaTypeImageManifest, body)
	wantCode(t, err, oci.CodeDigestInvalid, "PutManifest under another digest")
	wantNoManifest(t, s, repo, other.String(), "manifest under a wrong digest")
	_, err = s.PutManifest(ctx, repo, "sha256:nothex", v1.MediaTypeImageManifest, body)
	wantCode(t, err, oci.CodeDigestInvalid, "PutManifest under a malformed digest")

	// By digest, then tagged: the tag resolves to the same manifest.
	putManifest(t, s, repo, "latest", v1.MediaTypeImageManifest, body)
	wantManifest(t, s, repo, "latest", v1.MediaTypeImageManifest, body)
}

func testManifestSize(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "big/manifest"
	img := newImage(4, 1)
	img.pushBlobs(t, s, repo)
	padded := func(size int) []byte {
		m := img.manifest()
		m.Annotations = map[string]string{"pad": ""}
		base := len(mustJSON(m))
		m.Annotations["pad"] = strings.Repeat("x", size-base)
		b := mustJSON(m)
		if len(b) != size {
			t.Fatalf("padded manifest has %d bytes, want %d", len(b), size)
		}
		return b
	}
	// Exactly the limit is accepted.
	limit := padded(oci.MaxManifestSize)
	putManifest(t, s, repo, "limit", v1.MediaTypeImageManifest, limit)
	wantManifest(t, s, repo, "limit", v1.MediaTypeImageManifest, limit)
	// One byte more is not.
	_, err := s.PutManifest(ctx, repo, "over", v1.MediaTypeImageManifest, padded(oci.MaxManifestSize+1))
	wantCode(t, err, oci.CodeSizeInvalid, "oversized manifest")
	wantStatus(t, err, http.StatusRequestEntityTooLarge, "oversized manifest")
	wantNoManifest(t, s, repo, "over", "oversized manifest")
}

func testTags(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "tags/list"
	img := newImage(5, 1)
	img.pushBlobs(t, s, repo)
	body := img.body()
	img2 := newImage(6, 1)
	img2.pushBlobs(t, s, repo)
	body2 := img2.body()
	// Pushed out of order, with upper case, digits and punctuation, which
	// sort by byte.
	all := []string{"v1.1", "latest", "A", "0", "v1.0", "_x", "b_c", "V2", "z-9", "a"}
	for i, tag := range all {
		b := body
		if i%2 == 1 {
			b = body2
		}
		putManifest(t, s, repo, tag, v1.MediaTypeImageManifest, b)
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)

	tags, more, err := s.Tags(ctx, repo, "", -1)
	wantList(t, tags, more, err, sorted, false, "Tags(all)")

	for _, n := range []int{1, 3, 5, 10} {
		var got []string
		last := ""
		for page := 0; ; page++ {
			tags, more, err := s.Tags(ctx, repo, last, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(tags) > n {
				t.Fatalf("Tags(n=%d) returned %d", n, len(tags))
			}
			end := len(got) + len(tags)
			if wantMore := end < len(sorted); more != wantMore {
				t.Fatalf("Tags(n=%d, last=%q) more = %v after %d of %d tags", n, last, more, end, len(sorted))
			}
			got = append(got, tags...)
			if !more {
				break
			}
			last = tags[len(tags)-1]
			if page > len(sorted) {
				t.Fatalf("Tags(n=%d) does not end", n)
			}
		}
		if !slices.Equal(got, sorted) {
			t.Fatalf("Tags in pages of %d = %q, want %q", n, got, sorted)
		}
	}
	tags, more, err = s.Tags(ctx, repo, "latest", -1)
	wantList(t, tags, more, err, []string{"v1.0", "v1.1", "z-9"}, false, "Tags(last=latest)")
	tags, more, err = s.Tags(ctx, repo, "b", 2) // last need not be a tag
	wantList(t, tags, more, err, []string{"b_c", "latest"}, true, "Tags(last=b, n=2)")
	tags, more, err = s.Tags(ctx, repo, "zzz", 5)
	wantList(t, tags, more, err, []string{}, false, "Tags(last past the end)")
	tags, more, err = s.Tags(ctx, repo, "", 0)
	wantList(t, tags, more, err, []string{}, true, "Tags(n=0)")

	_, _, err = s.Tags(ctx, "tags/never", "", -1)
	wantCode(t, err, oci.CodeNameUnknown, "Tags of an unknown repository")
	_, _, err = s.Tags(ctx, "TAGS", "", -1)
	wantCode(t, err, oci.CodeNameInvalid, "Tags with an invalid name")

	if err := s.DeleteManifest(ctx, repo, "latest"); err != nil {
		t.Fatal(err)
	}
	tags, more, err = s.Tags(ctx, repo, "b_c", 2)
	wantList(t, tags, more, err, []string{"v1.0", "v1.1"}, true, "Tags after deleting a tag")
}

func testCatalog(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	repos, more, err := s.Catalog(ctx, "", -1)
	wantList(t, repos, more, err, []string{}, false, "Catalog of an empty store")

	img := newImage(7, 1)
	names := []string{"c", "b/x", "a/b", "a", "a-b", "a/b/c"}
	for _, r := range names {
		img.pushBlobs(t, s, r)
		putManifest(t, s, r, "v1", v1.MediaTypeImageManifest, img.body())
	}
	putBlob(t, s, "blobs/only", Payload(80, 10)) // no manifest: not listed
	if _, err := s.StartUpload(ctx, "uploading/only"); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)

	repos, more, err = s.Catalog(ctx, "", -1)
	wantList(t, repos, more, err, sorted, false, "Catalog")
	var got []string
	last := ""
	for {
		repos, more, err := s.Catalog(ctx, last, 4)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, repos...)
		if !more {
			break
		}
		last = repos[len(repos)-1]
	}
	if !slices.Equal(got, sorted) {
		t.Fatalf("Catalog in pages of 4 = %q, want %q", got, sorted)
	}
	repos, more, err = s.Catalog(ctx, "a/b", 2)
	wantList(t, repos, more, err, sorted[slices.Index(sorted, "a/b")+1:][:2], true, "Catalog(last=a/b, n=2)")

	// A repository whose last manifest is deleted leaves the catalog.
	if err := s.DeleteManifest(ctx, "b/x", digest.FromBytes(img.body()).String()); err != nil {
		t.Fatal(err)
	}
	repos, more, err = s.Catalog(ctx, "a/b/c", -1)
	wantList(t, repos, more, err, []string{"c"}, false, "Catalog after deleting b/x's manifest")
}

func testReferrers(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "ref/errers"
	subjectImg := newImage(8, 1)
	subjectImg.pushBlobs(t, s, repo)
	subjectBody := subjectImg.body()
	subject := descOf(v1.MediaTypeImageManifest, subjectBody)

	// Referrers pushed before their subject are listed (the spec allows it).
	empty := []byte("{}")
	putBlob(t, s, repo, empty)
	sigLayer := []byte("signature bytes")
	putBlob(t, s, repo, sigLayer)
	sig := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sig",
		Config:       descOf(v1.MediaTypeEmptyJSON, empty),
		Layers:       []v1.Descriptor{descOf("application/octet-stream", sigLayer)},
		Subject:      &subject,
		Annotations:  map[string]string{"org.example.signer": "alice"},
	}
	sigBody := mustJSON(sig)
	sigD := putManifest(t, s, repo, digest.FromBytes(sigBody).String(), v1.MediaTypeImageManifest, sigBody)
	res, err := s.PutManifest(ctx, repo, "subject", v1.MediaTypeImageManifest, subjectBody)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Subject != nil {
		t.Fatalf("a manifest without subject parsed with one")
	}

	// An artifact typed by its config's media type.
	sbomConfig := []byte(`{"sbom":true}`)
	putBlob(t, s, repo, sbomConfig)
	sbom := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    descOf("application/vnd.example.sbom", sbomConfig),
		Layers:    []v1.Descriptor{},
		Subject:   &subject,
	}
	sbomBody := mustJSON(sbom)
	sbomD := putManifest(t, s, repo, "sbom", v1.MediaTypeImageManifest, sbomBody)
	if sbomD == sigD {
		t.Fatal("test manifests collide")
	}

	// Referrers of something else, and the same referrer in another repository.
	other := newImage(9, 1)
	other.pushBlobs(t, s, repo)
	otherDesc := descOf(v1.MediaTypeImageManifest, other.body())
	unrelated := sig
	unrelated.Subject = &otherDesc
	putManifest(t, s, repo, "unrelated", v1.MediaTypeImageManifest, mustJSON(unrelated))
	putBlob(t, s, "ref/other", empty)
	putBlob(t, s, "ref/other", sigLayer)
	putManifest(t, s, "ref/other", "sig", v1.MediaTypeImageManifest, sigBody)

	want := map[digest.Digest]v1.Descriptor{
		sigD:  {MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/vnd.example.sig", Digest: sigD, Size: int64(len(sigBody)), Annotations: sig.Annotations},
		sbomD: {MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/vnd.example.sbom", Digest: sbomD, Size: int64(len(sbomBody))},
	}
	check := func(artifactType string, wantDs ...digest.Digest) {
		t.Helper()
		got, err := s.Referrers(ctx, repo, subject.Digest, artifactType)
		if err != nil {
			t.Fatalf("Referrers(%q): %v", artifactType, err)
		}
		slices.Sort(wantDs)
		if len(got) != len(wantDs) {
			t.Fatalf("Referrers(%q) = %d descriptors %+v, want %v", artifactType, len(got), got, wantDs)
		}
		for i, g := range got {
			w := want[wantDs[i]]
			if g.Digest != w.Digest || g.MediaType != w.MediaType || g.ArtifactType != w.ArtifactType || g.Size != w.Size || !equalMaps(g.Annotations, w.Annotations) {
				t.Fatalf("Referrers(%q)[%d] = %+v, want %+v", artifactType, i, g, w)
			}
		}
	}
	check("", sigD, sbomD)
	check("application/vnd.example.sig", sigD)
	check("application/vnd.example.sbom", sbomD)
	check("application/vnd.example.none")

	for _, r := range []string{"ref/never", "ref/empty"} {
		if r == "ref/empty" {
			putBlob(t, s, r, empty)
		}
		got, err := s.Referrers(ctx, r, subject.Digest, "")
		if err != nil || len(got) != 0 {
			t.Fatalf("Referrers in %s = %+v, %v; want none", r, got, err)
		}
	}

	// A deleted referrer is no longer listed.
	if err := s.DeleteManifest(ctx, repo, sigD.String()); err != nil {
		t.Fatal(err)
	}
	check("", sbomD)
	check("application/vnd.example.sig")
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testDeleteManifest(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	const repo = "del/manifest"
	img := newImage(13, 2)
	img.pushBlobs(t, s, repo)
	body := img.body()
	d := putManifest(t, s, repo, "t1", v1.MediaTypeImageManifest, body)
	putManifest(t, s, repo, "t2", v1.MediaTypeImageManifest, body)
	keep := newImage(14, 1)
	keep.pushBlobs(t, s, repo)
	keepBody := keep.body()
	keepD := putManifest(t, s, repo, "keep", v1.MediaTypeImageManifest, keepBody)

	// By tag: only the tag goes.
	if err := s.DeleteManifest(ctx, repo, "t1"); err != nil {
		t.Fatalf("DeleteManifest(tag): %v", err)
	}
	wantNoManifest(t, s, repo, "t1", "deleted tag")
	wantManifest(t, s, repo, "t2", v1.MediaTypeImageManifest, body)
	wantManifest(t, s, repo, d.String(), v1.MediaTypeImageManifest, body)
	wantCode(t, s.DeleteManifest(ctx, repo, "t1"), oci.CodeManifestUnknown, "DeleteManifest of a deleted tag")

	// By digest: the manifest and every tag on it go; blobs stay.
	if err := s.DeleteManifest(ctx, repo, d.String()); err != nil {
		t.Fatalf("DeleteManifest(digest): %v", err)
	}
	wantNoManifest(t, s, repo, d.String(), "deleted manifest")
	wantNoManifest(t, s, repo, "t2", "tag of a deleted manifest")
	wantManifest(t, s, repo, "keep", v1.MediaTypeImageManifest, keepBody)
	tags, more, err := s.Tags(ctx, repo, "", -1)
	wantList(t, tags, more, err, []string{"keep"}, false, "Tags after deleting a manifest")
	wantStoreBlob(t, s, repo, digest.FromBytes(img.layers[0]), img.layers[0])
	wantCode(t, s.DeleteManifest(ctx, repo, d.String()), oci.CodeManifestUnknown, "DeleteManifest twice")

	wantCode(t, s.DeleteManifest(ctx, "del/never", keepD.String()), oci.CodeManifestUnknown, "DeleteManifest in an unknown repository")
	wantCode(t, s.DeleteManifest(ctx, repo, "nosuchtag"), oci.CodeManifestUnknown, "DeleteManifest of an unknown tag")
	wantCode(t, s.DeleteManifest(ctx, "Del", "keep"), oci.CodeNameInvalid, "DeleteManifest with an invalid name")

	// It can be pushed again.
	putManifest(t, s, repo, "t1", v1.MediaTypeImageManifest, body)
	wantManifest(t, s, repo, d.String(), v1.MediaTypeImageManifest, body)
}

func testStoreConcurrent(t *testing.T, s *store.Store) {
	ctx := ctxOf(t)
	shared := Payload(90, 200_000)
	const workers = 12
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				repo := fmt.Sprintf("conc/r%d", i%3)
				if _, err := s.PutBlob(ctx, repo, digest.FromBytes(shared), int64(len(shared)), bytes.NewReader(shared)); err != nil {
					return err
				}
				own := Payload(uint64(91+i), 50_000+i)
				// Chunked, to exercise sessions side by side.
				u, err := s.StartUpload(ctx, repo)
				if err != nil {
					return err
				}
				if _, err := s.AppendUpload(ctx, repo, u.ID, 0, 25_000, bytes.NewReader(own[:25_000])); err != nil {
					return err
				}
				if _, err := s.FinishUpload(ctx, repo, u.ID, digest.FromBytes(own), 25_000, int64(len(own)-25_000), bytes.NewReader(own[25_000:])); err != nil {
					return err
				}
				m := v1.Manifest{
					Versioned: specs.Versioned{SchemaVersion: 2},
					MediaType: v1.MediaTypeImageManifest,
					Config:    descOf(v1.MediaTypeImageConfig, shared),
					Layers:    []v1.Descriptor{descOf(v1.MediaTypeImageLayer, own)},
				}
				_, err = s.PutManifest(ctx, repo, fmt.Sprintf("w%02d", i), v1.MediaTypeImageManifest, mustJSON(m))
				return err
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent push: %v", err)
		}
	}
	for i := range workers {
		repo := fmt.Sprintf("conc/r%d", i%3)
		own := Payload(uint64(91+i), 50_000+i)
		wantStoreBlob(t, s, repo, digest.FromBytes(shared), shared)
		wantStoreBlob(t, s, repo, digest.FromBytes(own), own)
		if _, err := s.GetManifest(ctx, repo, fmt.Sprintf("w%02d", i)); err != nil {
			t.Fatalf("GetManifest after concurrent push: %v", err)
		}
	}
	repos, more, err := s.Catalog(ctx, "", -1)
	wantList(t, repos, more, err, []string{"conc/r0", "conc/r1", "conc/r2"}, false, "Catalog")
}

func testResumeAfterReopen(t *testing.T, s1 *store.Store) {
	ctx := ctxOf(t)
	const repo = "resume/me"
	root, backend := s1.Root(), s1.Backend()
	data := Payload(100, 3<<20)
	d := digest.FromBytes(data)
	kept := putBlob(t, s1, repo, Payload(101, 1000))
	img := newImage(15, 1)
	img.pushBlobs(t, s1, repo)
	putManifest(t, s1, repo, "before", v1.MediaTypeImageManifest, img.body())

	u, err := s1.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if off, err := s1.AppendUpload(ctx, repo, u.ID, 0, 1<<20, bytes.NewReader(data[:1<<20])); err != nil || off != 1<<20 {
		t.Fatalf("AppendUpload = %d, %v", off, err)
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2, err := store.Open(ctx, store.Options{Root: root, Backend: backend})
	if err != nil {
		t.Fatalf("reopening the store: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	wantStoreBlob(t, s2, repo, kept, Payload(101, 1000))
	wantManifest(t, s2, repo, "before", v1.MediaTypeImageManifest, img.body())
	st, err := s2.UploadStatus(ctx, repo, u.ID)
	if err != nil || st.Offset != 1<<20 {
		t.Fatalf("UploadStatus after reopening = %+v, %v; want offset %d", st, err, 1<<20)
	}
	_, err = s2.AppendUpload(ctx, repo, u.ID, 0, 1<<20, bytes.NewReader(data[:1<<20]))
	wantStatus(t, err, http.StatusRequestedRangeNotSatisfiable, "AppendUpload out of order after reopening")
	if off, err := s2.AppendUpload(ctx, repo, u.ID, 1<<20, 1<<20, bytes.NewReader(data[1<<20:2<<20])); err != nil || off != 2<<20 {
		t.Fatalf("AppendUpload after reopening = %d, %v", off, err)
	}
	n, err := s2.FinishUpload(ctx, repo, u.ID, d, 2<<20, int64(len(data)-2<<20), bytes.NewReader(data[2<<20:]))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("FinishUpload after reopening = %d, %v", n, err)
	}
	wantStoreBlob(t, s2, repo, d, data)
	_, err = s2.UploadStatus(ctx, repo, u.ID)
	wantCode(t, err, oci.CodeBlobUploadUnknown, "UploadStatus after finishing")
}
