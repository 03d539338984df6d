package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The crash test: concurrent pushers (monolithic, chunked, single-POST,
// mounts, deduplicated re-pushes, manifests by tag and by digest) against
// dfsreg serve, killed with SIGKILL at a random moment while requests are in
// flight, restarted on the same root, then checked:
//
//   - every blob and manifest that was acknowledged (201) is there, whole;
//   - whatever was attempted but not acknowledged is either absent or exact;
//   - tags point at their last acknowledged manifest, or at the one whose
//     PUT was cut short;
//   - interrupted upload sessions report an offset between what was
//     acknowledged and what was sent, and can be finished;
//   - nothing answers 5xx; the store takes new pushes.
//
// E2E_SEED=<n> replays a run's random choices: sizes, kinds of push, when
// the kill comes (not which requests it finds in flight).

const (
	crashWorkers = 8
	crashRounds  = 3
	// maxOpsPerRound bounds a worker's pushes in one round, should the
	// kill come late.
	maxOpsPerRound = 400
)

var crashRepos = []string{"crash/alpha", "crash/beta", "crash/gamma/nested"}

type bkey struct{ repo, ref string }

type blobRec struct {
	b     blob
	acked bool // acknowledged, or seen after a restart (hence durable)
}

type manRec struct {
	body  []byte
	refs  []blobRef // config and layers
	acked bool
}

type blobRef struct {
	dgst string
	size int64
}

type tagRec struct {
	acked   string // manifest digest of the last acknowledged PUT
	pending string // digest of a PUT cut short by the kill
}

// openSession is an upload session a kill interrupted.
type openSession struct {
	repo, loc string
	b         blob
	dgst      string
	min, max  int64 // the server may have recorded any offset in [min, max]
	closing   bool  // the closing PUT was sent: the blob may be committed
}

// ledger is what the pushers did, and what the server owes them.
type ledger struct {
	mu        sync.Mutex
	blobs     map[bkey]*blobRec
	manifests map[bkey]*manRec
	tags      map[bkey]*tagRec
	sessions  []*openSession

	blobAcks, manifestAcks, tagAcks int
}

func newLedger() *ledger {
	return &ledger{blobs: map[bkey]*blobRec{}, manifests: map[bkey]*manRec{}, tags: map[bkey]*tagRec{}}
}

func (l *ledger) attemptBlob(repo string, b blob, dgst string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blobs[bkey{repo, dgst}] == nil {
		l.blobs[bkey{repo, dgst}] = &blobRec{b: b}
	}
}

func (l *ledger) ackBlob(repo, dgst string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blobs[bkey{repo, dgst}].acked = true
	l.blobAcks++
}

// ackedBlobElsewhere picks an acknowledged blob of another repository than
// repo, for a mount or a deduplicated re-push.
func (l *ledger) ackedBlobElsewhere(rng *rand.Rand, repo string) (string, blob, string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keys []bkey
	for k, r := range l.blobs {
		if r.acked && k.repo != repo {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", blob{}, "", false
	}
	slices.SortFunc(keys, func(a, b bkey) int {
		if a.repo != b.repo {
			return cmpStr(a.repo, b.repo)
		}
		return cmpStr(a.ref, b.ref)
	})
	k := keys[rng.IntN(len(keys))]
	return k.repo, l.blobs[k].b, k.ref, true
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// worker is one pusher in one round.
type worker struct {
	id     int
	repo   string
	rng    *rand.Rand
	c      *client
	l      *ledger
	killed *atomic.Bool
	seed   func() uint64

	acked   []blobRef // blobs acknowledged in repo by this worker, for manifests
	session *openSession
	nonce   int

	err         error // a failure of the server's (not the kill)
	interrupted bool  // the kill cut a request short
}

// blobSize is log-uniform in [1 KiB, 8 MiB].
func blobSize(rng *rand.Rand) int64 {
	return int64(math.Exp2(10 + rng.Float64()*13))
}

func (w *worker) run(ctx context.Context) {
	for range maxOpsPerRound {
		if err := w.step(ctx); err != nil {
			if !isStatusError(err) && w.killed.Load() {
				w.interrupted = true
			} else {
				w.err = fmt.Errorf("worker %d (%s): %w", w.id, w.repo, err)
			}
			if w.session != nil {
				w.l.mu.Lock()
				w.l.sessions = append(w.l.sessions, w.session)
				w.l.mu.Unlock()
			}
			return
		}
	}
}

func (w *worker) step(ctx context.Context) error {
	if len(w.acked) >= 2 && w.rng.IntN(4) == 0 {
		return w.pushManifest(ctx)
	}
	switch p := w.rng.IntN(100); {
	case p < 8:
		return w.mount(ctx)
	case p < 15:
		return w.repush(ctx)
	case p < 45:
		return w.pushNew(ctx, w.monolithic)
	case p < 70:
		return w.pushNew(ctx, w.chunked)
	default:
		return w.pushNew(ctx, w.single)
	}
}

func (w *worker) pushNew(ctx context.Context, push func(context.Context, blob, string) error) error {
	b := blob{Seed: w.seed(), Size: blobSize(w.rng)}
	d := b.digest()
	w.l.attemptBlob(w.repo, b, d)
	if err := push(ctx, b, d); err != nil {
		return err
	}
	w.l.ackBlob(w.repo, d)
	w.acked = append(w.acked, blobRef{d, b.Size})
	return nil
}

// monolithic: POST, then PUT ?digest= with the whole blob.
func (w *worker) monolithic(ctx context.Context, b blob, d string) error {
	loc, err := w.c.startUpload(ctx, w.repo)
	if err != nil {
		return err
	}
	w.session = &openSession{repo: w.repo, loc: loc, b: b, dgst: d, max: b.Size, closing: true}
	if err := w.c.putBlob(ctx, loc, b, d, 0); err != nil {
		return err
	}
	w.session = nil
	return nil
}

// chunked: POST, PATCH chunks with Content-Range, PUT ?digest= without body.
func (w *worker) chunked(ctx context.Context, b blob, d string) error {
	loc, err := w.c.startUpload(ctx, w.repo)
	if err != nil {
		return err
	}
	s := &openSession{repo: w.repo, loc: loc, b: b, dgst: d}
	w.session = s
	n := int64(2 + w.rng.IntN(4))
	chunk := (b.Size + n - 1) / n
	src := b.stream(0)
	for off := int64(0); off < b.Size; off += chunk {
		size := min(chunk, b.Size-off)
		s.max = off + size
		next, err := w.c.patch(ctx, s.loc, io.LimitReader(src, size), off, size)
		if err != nil {
			return err
		}
		s.loc, s.min = next, off+size
	}
	s.closing = true
	if err := w.c.putBlob(ctx, s.loc, b, d, b.Size); err != nil {
		return err
	}
	w.session = nil
	return nil
}

// single: one POST ?digest= with the body.
func (w *worker) single(ctx context.Context, b blob, d string) error {
	return w.c.postBlob(ctx, w.repo, b, d)
}

// mount: cross-repository mount of an acknowledged blob, which must be 201.
func (w *worker) mount(ctx context.Context) error {
	from, b, d, ok := w.l.ackedBlobElsewhere(w.rng, w.repo)
	if !ok {
		return w.pushNew(ctx, w.single)
	}
	w.l.attemptBlob(w.repo, b, d)
	what := "mount " + d + " from " + from + " to " + w.repo
	resp, err := w.c.do(ctx, "POST", w.c.base+"/v2/"+w.repo+"/blobs/uploads/?mount="+d+"&from="+from, nil, 0, nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	if err := checkCreated(what, resp, d); err != nil {
		return err
	}
	w.l.ackBlob(w.repo, d)
	w.acked = append(w.acked, blobRef{d, b.Size})
	return nil
}

// repush: the bytes of a blob another repository holds, pushed again
// (deduplicated in the backend).
func (w *worker) repush(ctx context.Context) error {
	_, b, d, ok := w.l.ackedBlobElsewhere(w.rng, w.repo)
	if !ok {
		return w.pushNew(ctx, w.monolithic)
	}
	w.l.attemptBlob(w.repo, b, d)
	if err := w.c.postBlob(ctx, w.repo, b, d); err != nil {
		return err
	}
	w.l.ackBlob(w.repo, d)
	w.acked = append(w.acked, blobRef{d, b.Size})
	return nil
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// pushManifest puts an image manifest over blobs this worker pushed, by
// tag (overwriting the worker's earlier ones) or by digest.
func (w *worker) pushManifest(ctx context.Context) error {
	pick := slices.Clone(w.acked)
	w.rng.Shuffle(len(pick), func(i, j int) { pick[i], pick[j] = pick[j], pick[i] })
	pick = pick[:2+w.rng.IntN(min(3, len(pick)-1))]
	w.nonce++
	m := struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Config        descriptor        `json:"config"`
		Layers        []descriptor      `json:"layers"`
		Annotations   map[string]string `json:"annotations"`
	}{
		SchemaVersion: 2,
		MediaType:     mediaManifest,
		Config:        descriptor{"application/vnd.oci.image.config.v1+json", pick[0].dgst, pick[0].size},
		Annotations:   map[string]string{"e2e.nonce": fmt.Sprintf("w%d-%d-%d", w.id, w.nonce, w.seed())},
	}
	for _, p := range pick[1:] {
		m.Layers = append(m.Layers, descriptor{"application/vnd.oci.image.layer.v1.tar", p.dgst, p.size})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	d := sha256Digest(body)
	ref, tag := d, ""
	if w.rng.IntN(5) != 0 {
		tag = "w" + strconv.Itoa(w.id) + "-" + strconv.Itoa(w.rng.IntN(3))
		ref = tag
	}
	w.l.mu.Lock()
	if w.l.manifests[bkey{w.repo, d}] == nil {
		w.l.manifests[bkey{w.repo, d}] = &manRec{body: body, refs: pick}
	}
	var tr *tagRec
	if tag != "" {
		tr = w.l.tags[bkey{w.repo, tag}]
		if tr == nil {
			tr = &tagRec{}
			w.l.tags[bkey{w.repo, tag}] = tr
		}
		tr.pending = d
	}
	w.l.mu.Unlock()
	if err := w.c.putManifest(ctx, w.repo, ref, body); err != nil {
		return err
	}
	w.l.mu.Lock()
	w.l.manifests[bkey{w.repo, d}].acked = true
	w.l.manifestAcks++
	if tr != nil {
		tr.acked, tr.pending = d, ""
		w.l.tagAcks++
	}
	w.l.mu.Unlock()
	return nil
}

// verifyStats counts what a verification found.
type verifyStats struct {
	blobsOK, blobsLost, unackedVisible, unackedAbsent int
	manifestsOK, manifestsLost                        int
	tagsOK                                            int
	sessionsResumed, sessionsCommitted                int
	bytesRead                                         int64
}

// verify checks the restarted server against the ledger; every failure is
// reported on t. Unacknowledged content found whole is from then on owed
// like acknowledged content.
func (l *ledger) verify(t *testing.T, ctx context.Context, c *client) verifyStats {
	t.Helper()
	var st verifyStats
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
	}

	// Blobs, four at a time.
	keys := make([]bkey, 0, len(l.blobs))
	for k := range l.blobs {
		keys = append(keys, k)
	}
	work := make(chan bkey)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for k := range work {
				r := l.blobs[k]
				found, err := c.getBlob(ctx, k.repo, r.b, k.ref)
				mu.Lock()
				switch {
				case err != nil && r.acked:
					st.blobsLost++
					fail("acknowledged blob %s in %s (%d bytes): %v", k.ref, k.repo, r.b.Size, err)
				case err != nil:
					fail("unacknowledged blob %s in %s (%d bytes): %v", k.ref, k.repo, r.b.Size, err)
				case !found && r.acked:
					st.blobsLost++
					fail("acknowledged blob %s in %s (%d bytes) is gone", k.ref, k.repo, r.b.Size)
				case !found:
					st.unackedAbsent++
				case r.acked:
					st.blobsOK++
					st.bytesRead += r.b.Size
				default:
					st.unackedVisible++
					st.bytesRead += r.b.Size
					r.acked = true
				}
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()

	// Manifests by digest, and what they reference.
	for k, r := range l.manifests {
		body, _, found, err := c.getManifest(ctx, k.repo, k.ref)
		switch {
		case err != nil:
			fail("manifest %s in %s (acknowledged %v): %v", k.ref, k.repo, r.acked, err)
			continue
		case !found && r.acked:
			st.manifestsLost++
			fail("acknowledged manifest %s in %s is gone", k.ref, k.repo)
			continue
		case !found:
			continue
		case string(body) != string(r.body):
			fail("manifest %s in %s: body differs", k.ref, k.repo)
			continue
		}
		r.acked = true
		st.manifestsOK++
		for _, ref := range r.refs {
			if err := c.headBlob(ctx, k.repo, ref.dgst, ref.size); err != nil {
				fail("manifest %s in %s references blob %s: %v", k.ref, k.repo, ref.dgst, err)
			}
		}
	}

	// Tags: the last acknowledged manifest, or the one cut short.
	byRepo := map[string][]string{}
	for k, r := range l.tags {
		_, d, found, err := c.getManifest(ctx, k.repo, k.ref)
		switch {
		case err != nil:
			fail("tag %s in %s: %v", k.ref, k.repo, err)
			continue
		case !found && r.acked != "":
			fail("tag %s in %s is gone (acknowledged %s)", k.ref, k.repo, r.acked)
			continue
		case !found:
			r.pending = ""
			continue
		case d != r.acked && d != r.pending:
			fail("tag %s in %s points at %s; acknowledged %q, cut short %q", k.ref, k.repo, d, r.acked, r.pending)
			continue
		}
		r.acked, r.pending = d, ""
		st.tagsOK++
		byRepo[k.repo] = append(byRepo[k.repo], k.ref)
	}
	for repo, want := range byRepo {
		got, err := c.tagList(ctx, repo)
		if err != nil {
			fail("tag list of %s: %v", repo, err)
			continue
		}
		for _, tag := range want {
			if !slices.Contains(got, tag) {
				fail("tag list of %s lacks %s: %v", repo, tag, got)
			}
		}
	}

	// Interrupted sessions: report a plausible offset, then finish.
	for _, s := range l.sessions {
		off, ok, err := c.uploadStatus(ctx, s.loc)
		if err != nil {
			fail("status of interrupted upload %s: %v", s.loc, err)
			continue
		}
		r := l.blobs[bkey{s.repo, s.dgst}]
		if !ok {
			// Gone: only a closing PUT that committed may end a session.
			if !s.closing {
				fail("upload %s (acknowledged up to %d) is unknown after the restart", s.loc, s.min)
			} else if !r.acked {
				fail("upload %s is unknown after the restart, but its blob %s is not in %s", s.loc, s.dgst, s.repo)
			} else {
				st.sessionsCommitted++
			}
			continue
		}
		if off < s.min || off > s.max {
			fail("upload %s resumes at %d; acknowledged %d, sent %d", s.loc, off, s.min, s.max)
			continue
		}
		loc := s.loc
		if off < s.b.Size {
			if loc, err = c.patch(ctx, loc, s.b.stream(off), off, s.b.Size-off); err != nil {
				fail("resuming upload %s at %d: %v", s.loc, off, err)
				continue
			}
		}
		if err := finishResumed(ctx, c, s.repo, loc, s.b, s.dgst); err != nil {
			fail("closing resumed upload %s (at %d of %d): %v", s.loc, off, s.b.Size, err)
			continue
		}
		if found, err := c.getBlob(ctx, s.repo, s.b, s.dgst); err != nil || !found {
			fail("blob %s of resumed upload %s: found %v, %v", s.dgst, s.loc, found, err)
			continue
		}
		r.acked = true
		st.sessionsResumed++
	}
	l.sessions = nil
	return st
}

// finishResumed closes a resumed upload. A server may refuse to continue a
// session whose staged bytes a crash took (BLOB_UPLOAD_UNKNOWN or
// BLOB_UPLOAD_INVALID: the client starts over, which must then work), but
// not fail it (5xx).
func finishResumed(ctx context.Context, c *client, repo, loc string, b blob, dgst string) error {
	err := c.putBlob(ctx, loc, b, dgst, b.Size)
	var se *statusError
	if !errors.As(err, &se) || (se.status != http.StatusNotFound && se.status != http.StatusBadRequest) ||
		!(strings.Contains(se.body, `"BLOB_UPLOAD_UNKNOWN"`) || strings.Contains(se.body, `"BLOB_UPLOAD_INVALID"`)) {
		return err
	}
	if err := c.postBlob(ctx, repo, b, dgst); err != nil {
		return fmt.Errorf("pushing again after %v: %w", se, err)
	}
	return nil
}

func TestCrashConcurrentPushes(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("E2E_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var seq atomic.Uint64
	seq.Store(seed << 20)
	nextSeed := func() uint64 { return seq.Add(1) }

	root := t.TempDir()
	l := newLedger()
	srv := startServer(t, root)
	var interrupted, resumed, lost int
	for round := range crashRounds {
		c := newClient(srv.base)
		var killed atomic.Bool
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		workers := make([]*worker, crashWorkers)
		var wg sync.WaitGroup
		for i := range workers {
			w := &worker{id: i, repo: crashRepos[(i+round)%len(crashRepos)], rng: rand.New(rand.NewPCG(seed, uint64(round*100+i+2))),
				c: c, l: l, killed: &killed, seed: nextSeed}
			workers[i] = w
			wg.Go(func() { w.run(ctx) })
		}
		// Kill at a random moment, with every worker mid-request.
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(3*time.Second))))
		killed.Store(true)
		srv.kill()
		wg.Wait()
		cancel()
		c.close()
		n := 0
		for _, w := range workers {
			if w.err != nil {
				t.Error(w.err)
			}
			if w.interrupted {
				n++
			}
		}
		interrupted += n
		if t.Failed() {
			t.FailNow()
		}
		if n == 0 {
			t.Fatalf("round %d: the kill interrupted no request", round)
		}
		ackedBlobs, ackedManifests := l.acked()

		srv = startServer(t, root)
		vc := newClient(srv.base)
		vctx, vcancel := context.WithTimeout(context.Background(), 3*time.Minute)
		nsess := len(l.sessions)
		st := l.verify(t, vctx, vc)
		vcancel()
		vc.close()
		t.Logf("round %d: kill cut %d requests (%d upload sessions open); owed %d blobs, %d manifests; after restart: %d blobs whole (%d MiB read), %d lost; not acknowledged: %d whole, %d absent; %d manifests whole, %d lost; %d tags right; sessions: %d resumed, %d committed before the kill",
			round, n, nsess, ackedBlobs, ackedManifests, st.blobsOK, st.bytesRead>>20, st.blobsLost,
			st.unackedVisible, st.unackedAbsent, st.manifestsOK, st.manifestsLost, st.tagsOK, st.sessionsResumed, st.sessionsCommitted)
		lost += st.blobsLost + st.manifestsLost
		resumed += st.sessionsResumed
		if log := srv.log.String(); containsLevel(log, "ERROR") {
			t.Errorf("round %d: the restarted server logged errors:\n%s", round, log)
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	// The store still takes pushes after the last restart.
	c := newClient(srv.base)
	defer c.close()
	ctx := context.Background()
	w := &worker{id: 99, repo: "crash/after", rng: rand.New(rand.NewPCG(seed, 99)), c: c, l: l, killed: new(atomic.Bool), seed: nextSeed}
	for _, push := range []func(context.Context, blob, string) error{w.monolithic, w.chunked, w.single} {
		if err := w.pushNew(ctx, push); err != nil {
			t.Fatalf("push after the last restart: %v", err)
		}
	}
	if err := w.pushManifest(ctx); err != nil {
		t.Fatalf("manifest push after the last restart: %v", err)
	}
	st := l.verify(t, ctx, c)
	lost += st.blobsLost + st.manifestsLost
	t.Logf("in all: %d blob 201s, %d manifest 201s (%d by tag); %d requests cut by %d kills, %d sessions resumed; finally verified %d blobs (repository, digest) and %d manifests whole, %d tags right; lost %d",
		l.blobAcks, l.manifestAcks, l.tagAcks, interrupted, crashRounds, resumed, st.blobsOK, st.manifestsOK, st.tagsOK, lost)
	if log := srv.log.String(); containsLevel(log, "ERROR") {
		t.Errorf("the server logged errors:\n%s", log)
	}
}

// acked counts the distinct blobs (repository, digest) and manifests the
// server owes.
func (l *ledger) acked() (blobs, manifests int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.blobs {
		if r.acked {
			blobs++
		}
	}
	for _, r := range l.manifests {
		if r.acked {
			manifests++
		}
	}
	return blobs, manifests
}

// containsLevel reports whether text- or JSON-format slog output has a
// record of the given level.
func containsLevel(log, level string) bool {
	return strings.Contains(log, " level="+level+" ") || strings.Contains(log, `"level":"`+level+`"`)
}
