// Package servetest holds the HTTP battery: a table of raw requests and
// what each must answer, run against dfsreg's API over any storage backend.
// Every backend's tests call RunBattery with a constructor of their store.
package servetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// row is one raw HTTP request and what must come back.
//
// Strings in target, hdr and want are expanded: {var} is replaced by a value
// an earlier row saved from its response (see save).
type row struct {
	name   string
	method string
	// target is the request-target, written to the wire verbatim (no
	// cleaning, no escaping), so traversal attempts reach the server as is.
	target string
	// hdr are request headers, "Key: value".
	hdr []string
	// send is the request body. It goes with Content-Length: len(send)
	// unless cl declares another length, or chunked is set.
	send    []byte
	cl      string
	chunked bool
	// halfClose shuts the client's write side after the body, so a body
	// shorter than its Content-Length ends in EOF instead of a stall.
	halfClose bool

	status int
	// code is the error code the envelope must carry (first entry); every
	// non-HEAD error row must name one.
	code oci.Code
	// want are exact response headers; a value of "" means "absent".
	want map[string]string
	// match are response headers that must match a regexp.
	match map[string]string
	// body is the exact response body expected (nil: not checked).
	body []byte
	// check runs further assertions on the response.
	check func(t *testing.T, h http.Header, body []byte)
	// save stores response headers into variables: var -> header.
	save map[string]string
}

// knownCodes are the error codes of the distribution spec.
var knownCodes = map[oci.Code]bool{
	oci.CodeBlobUnknown: true, oci.CodeBlobUploadInvalid: true, oci.CodeBlobUploadUnknown: true,
	oci.CodeDigestInvalid: true, oci.CodeManifestBlobUnknown: true, oci.CodeManifestInvalid: true,
	oci.CodeManifestUnknown: true, oci.CodeNameInvalid: true, oci.CodeNameUnknown: true,
	oci.CodeSizeInvalid: true, oci.CodeUnauthorized: true, oci.CodeDenied: true,
	oci.CodeUnsupported: true, oci.CodeTooManyRequests: true,
}

// battery is the state of one battery run.
type battery struct {
	addr string
	vars map[string]string
	rows int
}

var varRE = regexp.MustCompile(`\{[A-Za-z0-9_]+\}`)

func (b *battery) expand(t *testing.T, s string) string {
	t.Helper()
	return varRE.ReplaceAllStringFunc(s, func(v string) string {
		val, ok := b.vars[v[1:len(v)-1]]
		if !ok {
			t.Fatalf("variable %s is not set (an earlier row failed?)", v)
		}
		return val
	})
}

// roundTrip sends one raw request on a fresh connection and reads the
// response. The body is written concurrently with reading the response, so a
// server that answers before reading everything (413) does not deadlock.
func (b *battery) roundTrip(t *testing.T, r row) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", r.method, b.expand(t, r.target), b.addr)
	for _, h := range r.hdr {
		fmt.Fprintf(&head, "%s\r\n", b.expand(t, h))
	}
	switch {
	case r.chunked:
		head.WriteString("Transfer-Encoding: chunked\r\n")
	case r.cl != "":
		fmt.Fprintf(&head, "Content-Length: %s\r\n", r.cl)
	case r.send != nil:
		fmt.Fprintf(&head, "Content-Length: %d\r\n", len(r.send))
	}
	head.WriteString("\r\n")
	written := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(conn)
		w.Write(head.Bytes())
		if r.chunked {
			cw := httputil.NewChunkedWriter(w)
			for p := r.send; len(p) > 0; {
				n := min(len(p), 64<<10)
				cw.Write(p[:n])
				p = p[n:]
			}
			cw.Close()
			w.WriteString("\r\n")
		} else {
			w.Write(r.send)
		}
		err := w.Flush()
		if r.halfClose {
			conn.(*net.TCPConn).CloseWrite()
		}
		written <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: r.method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	resp.Body.Close()
	conn.Close()
	<-written // a write error is expected when the server answered early
	return resp, body
}

func (b *battery) run(t *testing.T, section string, rows []row) {
	t.Run(section, func(t *testing.T) {
		for i, r := range rows {
			b.rows++
			name := fmt.Sprintf("%02d_%s", i, r.name)
			ok := t.Run(name, func(t *testing.T) { b.runRow(t, r) })
			if !ok && r.save != nil {
				t.Fatalf("row %s saves variables that later rows need", name)
			}
		}
	})
}

func (b *battery) runRow(t *testing.T, r row) {
	if r.status >= 400 && r.method != http.MethodHead && r.code == "" {
		t.Fatal("table error: an error row must name its code")
	}
	if r.status < 400 && r.code != "" {
		t.Fatal("table error: a success row cannot name a code")
	}
	resp, body := b.roundTrip(t, r)
	h := resp.Header
	for v, name := range r.save {
		val := h.Get(name)
		if val == "" {
			t.Errorf("header %s to save as {%s} is missing", name, v)
		}
		b.vars[v] = val
	}
	show := func() string {
		s := body
		if len(s) > 300 {
			s = s[:300]
		}
		return fmt.Sprintf("%s %s -> %d %v\n%s", r.method, truncate(b.expand(t, r.target), 200), resp.StatusCode, h, s)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("server error: %s", show())
	}
	if resp.StatusCode != r.status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, r.status, show())
	}
	if got := h.Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
		t.Errorf("Docker-Distribution-API-Version = %q", got)
	}
	if resp.StatusCode >= 400 {
		checkEnvelope(t, r, h, body)
		// An error is not the resource: nothing may cache it as such.
		if cc := h.Get("Cache-Control"); cc != "" && !strings.Contains(cc, "no-store") {
			t.Errorf("error response with Cache-Control %q", cc)
		}
	}
	if r.method != http.MethodHead && resp.StatusCode != http.StatusNotModified {
		if cl := h.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
			t.Errorf("Content-Length %s but %d body bytes", cl, len(body))
		}
	} else if len(body) > 0 {
		t.Errorf("%d body bytes on a response that has none", len(body))
	}
	for k, v := range r.want {
		v = b.expand(t, v)
		got, present := h[http.CanonicalHeaderKey(k)]
		switch {
		case v == "" && present:
			t.Errorf("header %s = %q, want it absent", k, got)
		case v != "" && (len(got) != 1 || got[0] != v):
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	for k, re := range r.match {
		re = b.expand(t, re)
		if got := h.Get(k); !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("header %s = %q, want a match of %s", k, got, re)
		}
	}
	if r.body != nil && !bytes.Equal(body, r.body) {
		t.Errorf("body differs (%d bytes, want %d): %s", len(body), len(r.body), show())
	}
	if r.check != nil {
		r.check(t, h, body)
	}
}

// checkEnvelope asserts what every error response must be: JSON, the spec's
// envelope, a known code, the row's code first.
func checkEnvelope(t *testing.T, r row, h http.Header, body []byte) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	if r.method == http.MethodHead {
		return
	}
	var env struct {
		Errors []struct {
			Code    *oci.Code       `json:"code"`
			Message *string         `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		} `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("error body is not the envelope: %v\n%s", err, body)
	}
	if dec.More() {
		t.Errorf("trailing data after the envelope: %s", body)
	}
	if len(env.Errors) == 0 {
		t.Fatalf("envelope has no errors: %s", body)
	}
	for _, e := range env.Errors {
		if e.Code == nil || !knownCodes[*e.Code] {
			t.Errorf("unknown code in %s", body)
		}
		if e.Message == nil || *e.Message == "" {
			t.Errorf("no message in %s", body)
		}
	}
	if got := env.Errors[0].Code; got != nil && *got != r.code {
		t.Errorf("code %s, want %s: %s", *got, r.code, body)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// --- content -----------------------------------------------------------

type blob struct {
	b []byte
	d digest.Digest
}

func newBlob(b []byte) blob { return blob{b, digest.FromBytes(b)} }

func (b blob) desc(mt string) v1.Descriptor {
	return v1.Descriptor{MediaType: mt, Digest: b.d, Size: int64(len(b.b))}
}

func (b blob) size() string { return strconv.Itoa(len(b.b)) }

// pattern returns n deterministic bytes that differ with seed.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i%251) ^ seed
	}
	return p
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// jsonBody checks that the body is JSON equal to want.
func jsonBody(want string) func(*testing.T, http.Header, []byte) {
	return func(t *testing.T, _ http.Header, body []byte) {
		t.Helper()
		var got, w any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, body)
		}
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatalf("table error: %v", err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("body %s, want %s", body, want)
		}
	}
}

// referrersBody checks a referrers response: an image index whose
// descriptors are want, in any order.
func referrersBody(want ...v1.Descriptor) func(*testing.T, http.Header, []byte) {
	return func(t *testing.T, _ http.Header, body []byte) {
		t.Helper()
		var idx v1.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			t.Fatalf("body is not an index: %v: %s", err, body)
		}
		if idx.SchemaVersion != 2 || idx.MediaType != v1.MediaTypeImageIndex {
			t.Errorf("index header: schemaVersion %d mediaType %q", idx.SchemaVersion, idx.MediaType)
		}
		if idx.Manifests == nil {
			t.Errorf("manifests is null, want a list: %s", body)
		}
		got := slices.Clone(idx.Manifests)
		w := slices.Clone(want)
		for _, s := range [][]v1.Descriptor{got, w} {
			slices.SortFunc(s, func(a, b v1.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
		}
		if len(w) == 0 {
			w = nil
		}
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("referrers\n got %s\nwant %s", mustJSON(got), mustJSON(w))
		}
	}
}

func manifestOf(mt string, cfg v1.Descriptor, layers ...v1.Descriptor) v1.Manifest {
	return v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mt, Config: cfg, Layers: layers}
}

func indexOf(mt string, ms ...v1.Descriptor) v1.Index {
	return v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mt, Manifests: ms}
}

const (
	mtManifest   = v1.MediaTypeImageManifest
	mtIndex      = v1.MediaTypeImageIndex
	mtDocker     = oci.MediaTypeDockerManifest
	mtDockerList = oci.MediaTypeDockerManifestList
	mtConfig     = v1.MediaTypeImageConfig
	mtLayer      = v1.MediaTypeImageLayer
	mtEmpty      = v1.MediaTypeEmptyJSON
	mtDockerCfg  = "application/vnd.docker.container.image.v1+json"
	mtDockerLyr  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	sbomType     = "application/vnd.example.sbom.v1"
	sigCfgType   = "application/vnd.example.sig.config.v1+json"
	sha256Empty  = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

func ct(mt string) string { return "Content-Type: " + mt }

// --- the battery -------------------------------------------------------

// runBattery runs the battery against an API over the store newStore
// returns. Rows run in order and build on each other; the content is made
// here, and everything reaches the store through HTTP.
// RunBattery runs every row against serve.New over a fresh store from
// newStore.
func RunBattery(t *testing.T, newStore func(t *testing.T) *store.Store) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := httptest.NewServer(serve.New(newStore(t), serve.Options{Logger: log}))
	defer srv.Close()
	b := &battery{addr: srv.Listener.Addr().String(), vars: map[string]string{}}
	defer func() { t.Logf("battery: %d rows", b.rows) }()

	// Blobs.
	cfg := newBlob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := newBlob(pattern(4096, 0))
	chunky := newBlob(pattern(3000, 1))   // pushed in three chunks
	streamed := newBlob(pattern(5000, 2)) // one PATCH without Content-Range
	mnt := newBlob(pattern(777, 3))       // lives in "src", mounted into "img"
	emptyJSON := newBlob([]byte("{}"))
	never := newBlob([]byte("never pushed"))
	zero := "sha256:" + strings.Repeat("0", 64)

	// Manifests.
	m1 := newBlob(mustJSON(manifestOf(mtManifest, cfg.desc(mtConfig), layer.desc(mtLayer))))
	m2v := manifestOf(mtManifest, cfg.desc(mtConfig), layer.desc(mtLayer), chunky.desc(mtLayer))
	m2v.Annotations = map[string]string{"variant": "two"}
	m2 := newBlob(mustJSON(m2v))
	idx := newBlob(mustJSON(indexOf(mtIndex, m1.desc(mtManifest), m2.desc(mtManifest))))
	dm := newBlob(mustJSON(manifestOf(mtDocker, cfg.desc(mtDockerCfg), layer.desc(mtDockerLyr))))
	dlDesc := dm.desc(mtDocker)
	dlDesc.Platform = &v1.Platform{Architecture: "amd64", OS: "linux"}
	dl := newBlob(mustJSON(indexOf(mtDockerList, dlDesc)))
	// No mediaType field: the Content-Type says what it is.
	noMT := newBlob([]byte(fmt.Sprintf(`{"schemaVersion":2,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[]}`, mtConfig, cfg.d, len(cfg.b))))
	srcM := newBlob(mustJSON(manifestOf(mtManifest, mnt.desc(mtConfig))))
	deepM := newBlob(mustJSON(manifestOf(mtManifest, emptyJSON.desc(mtEmpty))))

	// Referrers of m1: an artifact with artifactType, one whose type is its
	// config's media type, and an index without artifactType.
	sbomV := manifestOf(mtManifest, emptyJSON.desc(mtEmpty), layer.desc(mtLayer))
	sbomV.ArtifactType = sbomType
	sbomV.Subject = ptr(m1.desc(mtManifest))
	sbomV.Annotations = map[string]string{"org.example.sbom.format": "json"}
	sbom := newBlob(mustJSON(sbomV))
	sigV := manifestOf(mtManifest, emptyJSON.desc(sigCfgType), layer.desc(mtLayer))
	sigV.Subject = ptr(m1.desc(mtManifest))
	sig := newBlob(mustJSON(sigV))
	refIdxV := indexOf(mtIndex, m2.desc(mtManifest))
	refIdxV.Subject = ptr(m1.desc(mtManifest))
	refIdxV.Annotations = map[string]string{"kind": "bundle"}
	refIdx := newBlob(mustJSON(refIdxV))
	// A referrer whose subject does not exist (yet): the spec makes
	// registries accept it.
	danglingV := manifestOf(mtManifest, emptyJSON.desc(mtEmpty))
	danglingV.ArtifactType = sbomType
	danglingV.Subject = &v1.Descriptor{MediaType: mtManifest, Digest: digest.Digest(zero), Size: 123}
	dangling := newBlob(mustJSON(danglingV))

	sbomRef := sbom.desc(mtManifest)
	sbomRef.ArtifactType, sbomRef.Annotations = sbomType, sbomV.Annotations
	sigRef := sig.desc(mtManifest)
	sigRef.ArtifactType = sigCfgType
	refIdxRef := refIdx.desc(mtIndex)
	refIdxRef.Annotations = refIdxV.Annotations
	danglingRef := dangling.desc(mtManifest)
	danglingRef.ArtifactType = sbomType

	// Bad manifests.
	missingLayer := mustJSON(manifestOf(mtManifest, cfg.desc(mtConfig), never.desc(mtLayer)))
	missingConfig := mustJSON(manifestOf(mtManifest, never.desc(mtConfig), layer.desc(mtLayer)))
	otherRepoBlob := mustJSON(manifestOf(mtManifest, cfg.desc(mtConfig), mnt.desc(mtLayer)))
	missingChild := mustJSON(indexOf(mtIndex, m1.desc(mtManifest), never.desc(mtManifest)))
	wrongSize := layer.desc(mtLayer)
	wrongSize.Size++
	wrongSizeM := mustJSON(manifestOf(mtManifest, cfg.desc(mtConfig), wrongSize))
	badDescDigest := []byte(strings.Replace(string(m1.b), string(layer.d), "sha256:zz", 1))
	md5Desc := []byte(strings.Replace(string(m1.b), string(layer.d), "md5:d41d8cd98f00b204e9800998ecf8427e", 1))
	schema1 := []byte(strings.Replace(string(m1.b), `"schemaVersion":2`, `"schemaVersion":1`, 1))
	noSchema := []byte(strings.Replace(string(m1.b), `"schemaVersion":2,`, ``, 1))
	indexWithLayers := []byte(`{"schemaVersion":2,"mediaType":"` + mtIndex + `","manifests":[],"layers":[]}`)
	manifestNoConfig := []byte(`{"schemaVersion":2,"mediaType":"` + mtManifest + `","layers":[]}`)
	negativeSize := []byte(strings.Replace(string(m1.b), `"size":4096`, `"size":-1`, 1))
	noMediaTypeDesc := []byte(strings.Replace(string(m1.b), `"mediaType":"`+mtLayer+`",`, ``, 1))
	childWrongSize := m1.desc(mtManifest)
	childWrongSize.Size--
	childWrongSizeIdx := mustJSON(indexOf(mtIndex, childWrongSize))
	badSubjectV := manifestOf(mtManifest, emptyJSON.desc(mtEmpty))
	badSubjectV.Subject = &v1.Descriptor{MediaType: mtManifest, Digest: "sha256:zz", Size: 1}
	badSubject := mustJSON(badSubjectV)
	manifestWithManifests := []byte(strings.Replace(string(m1.b), `"layers":`, `"manifests":[],"layers":`, 1))
	trailing := append(slices.Clone(m1.b), []byte(" {}")...)
	prettyJWS := []byte(`{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws","name":"img","tag":"x","fsLayers":[]}`)

	// Manifests at the size limit: exactly 4 MiB is accepted, one more
	// byte is not.
	atLimit := padManifest(cfg, oci.MaxManifestSize)
	overLimit := padManifest(cfg, oci.MaxManifestSize+1)

	tag128 := strings.Repeat("t", 128)
	tag130 := strings.Repeat("t", 130)
	name255 := strings.Repeat("a", 127) + "/" + strings.Repeat("b", 127)
	name256 := strings.Repeat("a", 128) + "/" + strings.Repeat("b", 127)

	uploadLoc := func(repo, v string) map[string]string {
		return map[string]string{"Location": "/v2/" + repo + "/blobs/uploads/{" + v + "}"}
	}
	saveUpload := func(v string) map[string]string {
		return map[string]string{v: "Docker-Upload-UUID", v + "_loc": "Location"}
	}
	created := func(loc, dg string) map[string]string {
		return map[string]string{"Location": loc, "Docker-Content-Digest": dg}
	}
	blobHdr := func(bl blob) map[string]string {
		return map[string]string{"Content-Length": bl.size(), "Docker-Content-Digest": bl.d.String(), "Content-Type": "application/octet-stream"}
	}
	manHdr := func(mt string, m blob) map[string]string {
		return map[string]string{"Content-Type": mt, "Content-Length": m.size(), "Docker-Content-Digest": m.d.String()}
	}

	b.run(t, "base", []row{
		{name: "GET /v2/", method: "GET", target: "/v2/", status: 200, want: map[string]string{"Content-Type": "application/json"}, body: []byte("{}")},
		{name: "HEAD /v2/", method: "HEAD", target: "/v2/", status: 200},
	})

	b.run(t, "uploads", []row{
		// POST then PUT, monolithic.
		{name: "monolithic POST ?digest= config", method: "POST", target: "/v2/img/blobs/uploads/?digest=" + cfg.d.String(), send: cfg.b,
			status: 201, want: created("/v2/img/blobs/"+cfg.d.String(), cfg.d.String())},
		{name: "monolithic POST ?digest= layer", method: "POST", target: "/v2/img/blobs/uploads/?digest=" + layer.d.String(), send: layer.b,
			status: 201, want: created("/v2/img/blobs/"+layer.d.String(), layer.d.String())},
		{name: "monolithic POST ?digest= empty JSON", method: "POST", target: "/v2/img/blobs/uploads/?digest=" + emptyJSON.d.String(), send: emptyJSON.b,
			status: 201, want: created("/v2/img/blobs/"+emptyJSON.d.String(), emptyJSON.d.String())},
		{name: "monolithic POST ?digest= empty blob", method: "POST", target: "/v2/img/blobs/uploads/?digest=" + sha256Empty, send: []byte{},
			status: 201, want: created("/v2/img/blobs/"+sha256Empty, sha256Empty)},
		{name: "monolithic POST ?digest= into src", method: "POST", target: "/v2/src/blobs/uploads/?digest=" + mnt.d.String(), send: mnt.b,
			status: 201, want: created("/v2/src/blobs/"+mnt.d.String(), mnt.d.String())},
		{name: "monolithic POST ?digest= chunked transfer", method: "POST", target: "/v2/deep/er/name/blobs/uploads/?digest=" + emptyJSON.d.String(), send: emptyJSON.b, chunked: true,
			status: 201, want: created("/v2/deep/er/name/blobs/"+emptyJSON.d.String(), emptyJSON.d.String())},
		{name: "monolithic POST an existing blob", method: "POST", target: "/v2/img/blobs/uploads/?digest=" + cfg.d.String(), send: cfg.b,
			status: 201, want: created("/v2/img/blobs/"+cfg.d.String(), cfg.d.String())},
		{name: "POST session without trailing slash", method: "POST", target: "/v2/img/blobs/uploads", status: 202, want: uploadLoc("img", "up0"), save: saveUpload("up0")},
		{name: "monolithic POST digest mismatch", method: "POST", target: "/v2/img/blobs/uploads/?digest=" + never.d.String(), send: layer.b,
			status: 400, code: oci.CodeDigestInvalid},
		{name: "monolithic POST sha256:zz", method: "POST", target: "/v2/img/blobs/uploads/?digest=sha256:zz", send: layer.b,
			status: 400, code: oci.CodeDigestInvalid},
		{name: "monolithic POST md5", method: "POST", target: "/v2/img/blobs/uploads/?digest=md5:d41d8cd98f00b204e9800998ecf8427e", send: []byte{},
			status: 400, code: oci.CodeDigestInvalid},
		{name: "monolithic POST Content-Length short of body", method: "POST", target: "/v2/img/blobs/uploads/?digest=" + layer.d.String(), send: layer.b, cl: "100",
			status: 400, code: oci.CodeDigestInvalid},
		{name: "monolithic POST body short of Content-Length", method: "POST", target: "/v2/img/blobs/uploads/?digest=" + never.d.String(), send: never.b, cl: "1000", halfClose: true,
			status: 400, code: oci.CodeSizeInvalid},
		{name: "monolithic POST nothing left behind", method: "HEAD", target: "/v2/img/blobs/" + never.d.String(), status: 404},

		// POST, PATCH chunks, PUT.
		{name: "POST session", method: "POST", target: "/v2/img/blobs/uploads/", status: 202,
			match: map[string]string{"Location": `^/v2/img/blobs/uploads/[^/?#]+$`}, want: uploadLoc("img", "up1"), save: saveUpload("up1")},
		{name: "GET status of a new session", method: "GET", target: "{up1_loc}", status: 204,
			want: map[string]string{"Location": "{up1_loc}", "Range": "0-0", "Docker-Upload-UUID": "{up1}"}},
		{name: "PATCH chunk 0-999", method: "PATCH", target: "{up1_loc}", hdr: []string{"Content-Range: 0-999", ct("application/octet-stream")}, send: chunky.b[:1000],
			status: 202, want: map[string]string{"Location": "{up1_loc}", "Range": "0-999"}},
		{name: "GET status after a chunk", method: "GET", target: "{up1_loc}", status: 204, want: map[string]string{"Location": "{up1_loc}", "Range": "0-999"}},
		{name: "PATCH out of order (gap)", method: "PATCH", target: "{up1_loc}", hdr: []string{"Content-Range: 2000-2999"}, send: chunky.b[2000:],
			status: 416, code: oci.CodeBlobUploadInvalid},
		{name: "PATCH out of order (repeat)", method: "PATCH", target: "{up1_loc}", hdr: []string{"Content-Range: 0-999"}, send: chunky.b[:1000],
			status: 416, code: oci.CodeBlobUploadInvalid},
		{name: "PATCH Content-Range longer than Content-Length", method: "PATCH", target: "{up1_loc}", hdr: []string{"Content-Range: 1000-1999"}, send: chunky.b[1000:1500],
			status: 416, code: oci.CodeSizeInvalid},
		{name: "PATCH malformed Content-Range", method: "PATCH", target: "{up1_loc}", hdr: []string{"Content-Range: bytes=a-b"}, send: chunky.b[1000:2000],
			status: 416, code: oci.CodeBlobUploadInvalid},
		{name: "PATCH inverted Content-Range", method: "PATCH", target: "{up1_loc}", hdr: []string{"Content-Range: 1999-1000"}, send: chunky.b[1000:2000],
			status: 416, code: oci.CodeBlobUploadInvalid},
		{name: "PATCH streamed body longer than its Content-Range", method: "PATCH", target: "{up1_loc}", hdr: []string{"Content-Range: 1000-1999"}, send: chunky.b[1000:2500], chunked: true,
			status: 400, code: oci.CodeSizeInvalid},
		{name: "GET status unchanged by rejected chunks", method: "GET", target: "{up1_loc}", status: 204, want: map[string]string{"Range": "0-999"}},
		{name: "PATCH chunk 1000-1999", method: "PATCH", target: "{up1_loc}", hdr: []string{"Content-Range: 1000-1999"}, send: chunky.b[1000:2000],
			status: 202, want: map[string]string{"Location": "{up1_loc}", "Range": "0-1999"}},
		{name: "PATCH empty chunk", method: "PATCH", target: "{up1_loc}", send: []byte{},
			status: 202, want: map[string]string{"Range": "0-1999"}},
		{name: "PUT close without ?digest=", method: "PUT", target: "{up1_loc}", status: 400, code: oci.CodeDigestInvalid},
		{name: "PUT close final chunk out of order", method: "PUT", target: "{up1_loc}?digest=" + chunky.d.String(), hdr: []string{"Content-Range: 2500-2999"}, send: chunky.b[2500:],
			status: 416, code: oci.CodeBlobUploadInvalid},
		{name: "PUT close Content-Range vs Content-Length", method: "PUT", target: "{up1_loc}?digest=" + chunky.d.String(), hdr: []string{"Content-Range: 2000-2999"}, send: chunky.b[2000:2999],
			status: 416, code: oci.CodeSizeInvalid},
		{name: "PUT close sha256:zz", method: "PUT", target: "{up1_loc}?digest=sha256:zz", send: chunky.b[2000:], status: 400, code: oci.CodeDigestInvalid},
		{name: "PUT close sha512", method: "PUT", target: "{up1_loc}?digest=sha512:" + strings.Repeat("ab", 64), send: chunky.b[2000:], status: 400, code: oci.CodeDigestInvalid},
		{name: "GET status unchanged by rejected closes", method: "GET", target: "{up1_loc}", status: 204, want: map[string]string{"Range": "0-1999"}},
		{name: "PUT close with final chunk", method: "PUT", target: "{up1_loc}?digest=" + chunky.d.String(), hdr: []string{"Content-Range: 2000-2999"}, send: chunky.b[2000:],
			status: 201, want: created("/v2/img/blobs/"+chunky.d.String(), chunky.d.String())},
		{name: "GET chunked blob", method: "GET", target: "/v2/img/blobs/" + chunky.d.String(), status: 200, want: blobHdr(chunky), body: chunky.b},
		{name: "GET status of a closed session", method: "GET", target: "{up1_loc}", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "PATCH a closed session", method: "PATCH", target: "{up1_loc}", send: []byte("x"), status: 404, code: oci.CodeBlobUploadUnknown},

		// One streamed PATCH (no Content-Range, chunked transfer), PUT
		// without a body.
		{name: "POST session 2", method: "POST", target: "/v2/img/blobs/uploads/", status: 202, want: uploadLoc("img", "up2"), save: saveUpload("up2")},
		{name: "PATCH streamed", method: "PATCH", target: "{up2_loc}", send: streamed.b, chunked: true,
			status: 202, want: map[string]string{"Location": "{up2_loc}", "Range": "0-4999"}},
		{name: "PUT close without body", method: "PUT", target: "{up2_loc}?digest=" + streamed.d.String(), status: 201,
			want: created("/v2/img/blobs/"+streamed.d.String(), streamed.d.String())},
		{name: "HEAD streamed blob", method: "HEAD", target: "/v2/img/blobs/" + streamed.d.String(), status: 200, want: blobHdr(streamed)},

		// POST then PUT with the whole blob.
		{name: "POST session 3", method: "POST", target: "/v2/deep/er/name/blobs/uploads/", status: 202, want: uploadLoc("deep/er/name", "up3"), save: saveUpload("up3")},
		{name: "PUT close with the whole blob", method: "PUT", target: "{up3_loc}?digest=" + layer.d.String(), send: layer.b, hdr: []string{ct("application/octet-stream")},
			status: 201, want: created("/v2/deep/er/name/blobs/"+layer.d.String(), layer.d.String())},

		// An empty blob through a session.
		{name: "POST session 4", method: "POST", target: "/v2/img/blobs/uploads/", status: 202, save: saveUpload("up4")},
		{name: "PUT close empty", method: "PUT", target: "{up4_loc}?digest=" + sha256Empty, send: []byte{}, status: 201,
			want: created("/v2/img/blobs/"+sha256Empty, sha256Empty)},

		// Digest mismatch on close ends the session.
		{name: "POST session 5", method: "POST", target: "/v2/img/blobs/uploads/", status: 202, save: saveUpload("up5")},
		{name: "PATCH into session 5", method: "PATCH", target: "{up5_loc}", send: never.b, status: 202},
		{name: "PUT close digest mismatch", method: "PUT", target: "{up5_loc}?digest=" + layer.d.String(), status: 400, code: oci.CodeDigestInvalid},
		{name: "GET status after mismatch", method: "GET", target: "{up5_loc}", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "mismatched content not stored", method: "GET", target: "/v2/img/blobs/" + never.d.String(), status: 404, code: oci.CodeBlobUnknown},

		// Wrong sizes on a session.
		{name: "POST session 6", method: "POST", target: "/v2/img/blobs/uploads/", status: 202, save: saveUpload("up6")},
		{name: "PATCH body short of Content-Length", method: "PATCH", target: "{up6_loc}", send: never.b, cl: "100", halfClose: true,
			status: 400, code: oci.CodeSizeInvalid},
		{name: "POST session 7", method: "POST", target: "/v2/img/blobs/uploads/", status: 202, save: saveUpload("up7")},
		{name: "PUT close body short of Content-Length", method: "PUT", target: "{up7_loc}?digest=" + never.d.String(), send: never.b, cl: "100", halfClose: true,
			status: 400, code: oci.CodeSizeInvalid},

		// Cancel, unknown ids, another repository's id.
		{name: "POST session 8", method: "POST", target: "/v2/img/blobs/uploads/", status: 202, save: saveUpload("up8")},
		{name: "GET session 8 through another repo", method: "GET", target: "/v2/src/blobs/uploads/{up8}", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "PATCH session 8 through another repo", method: "PATCH", target: "/v2/src/blobs/uploads/{up8}", send: never.b, status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "PUT session 8 through another repo", method: "PUT", target: "/v2/src/blobs/uploads/{up8}?digest=" + never.d.String(), send: never.b, status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "DELETE session 8 through another repo", method: "DELETE", target: "/v2/src/blobs/uploads/{up8}", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "GET session 8 through an unknown repo", method: "GET", target: "/v2/nowhere/blobs/uploads/{up8}", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "session 8 unharmed", method: "GET", target: "{up8_loc}", status: 204, want: map[string]string{"Range": "0-0"}},
		{name: "DELETE session 8", method: "DELETE", target: "{up8_loc}", status: 204},
		{name: "GET cancelled session", method: "GET", target: "{up8_loc}", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "DELETE cancelled session", method: "DELETE", target: "{up8_loc}", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "PUT cancelled session", method: "PUT", target: "{up8_loc}?digest=" + never.d.String(), send: never.b, status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "GET unknown upload id", method: "GET", target: "/v2/img/blobs/uploads/0123456789abcdef0123456789abcdef", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "PATCH unknown upload id", method: "PATCH", target: "/v2/img/blobs/uploads/0123456789abcdef0123456789abcdef", send: never.b, status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "DELETE malformed upload id", method: "DELETE", target: "/v2/img/blobs/uploads/not-an-id", status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "GET overlong upload id", method: "GET", target: "/v2/img/blobs/uploads/" + strings.Repeat("a", 600), status: 404, code: oci.CodeBlobUploadUnknown},
		{name: "GET upload id with traversal", method: "GET", target: "/v2/img/blobs/uploads/..%2F..%2F..%2Fdfsreg.db", status: 404, code: oci.CodeNameUnknown},
		{name: "POST session invalid name", method: "POST", target: "/v2/IMG/blobs/uploads/", status: 400, code: oci.CodeNameInvalid},
		{name: "GET upload invalid name", method: "GET", target: "/v2/i..mg/blobs/uploads/{up8}", status: 400, code: oci.CodeNameInvalid},
	})

	b.run(t, "mount", []row{
		{name: "mount from a repo holding the blob", method: "POST", target: "/v2/img/blobs/uploads/?mount=" + mnt.d.String() + "&from=src",
			status: 201, want: created("/v2/img/blobs/"+mnt.d.String(), mnt.d.String())},
		{name: "mounted blob readable", method: "GET", target: "/v2/img/blobs/" + mnt.d.String(), status: 200, want: blobHdr(mnt), body: mnt.b},
		{name: "mount into a new repo", method: "POST", target: "/v2/mounted/blobs/uploads/?from=src&mount=" + mnt.d.String(),
			status: 201, want: created("/v2/mounted/blobs/"+mnt.d.String(), mnt.d.String())},
		{name: "mount again (idempotent)", method: "POST", target: "/v2/img/blobs/uploads/?mount=" + mnt.d.String() + "&from=src",
			status: 201, want: created("/v2/img/blobs/"+mnt.d.String(), mnt.d.String())},
		{name: "mount from a repo lacking the blob", method: "POST", target: "/v2/src/blobs/uploads/?mount=" + chunky.d.String() + "&from=deep/er/name",
			status: 202, match: map[string]string{"Location": `^/v2/src/blobs/uploads/[^/?#]+$`}, save: saveUpload("upm1")},
		{name: "fallback session usable", method: "PUT", target: "{upm1_loc}?digest=" + chunky.d.String(), send: chunky.b,
			status: 201, want: created("/v2/src/blobs/"+chunky.d.String(), chunky.d.String())},
		{name: "mount without from", method: "POST", target: "/v2/src/blobs/uploads/?mount=" + layer.d.String(),
			status: 202, match: map[string]string{"Location": `^/v2/src/blobs/uploads/[^/?#]+$`}},
		{name: "mount from an unknown repo", method: "POST", target: "/v2/src/blobs/uploads/?mount=" + layer.d.String() + "&from=nowhere",
			status: 202, match: map[string]string{"Location": `^/v2/src/blobs/uploads/[^/?#]+$`}},
		{name: "mount from an invalid name", method: "POST", target: "/v2/src/blobs/uploads/?mount=" + layer.d.String() + "&from=../img",
			status: 202, match: map[string]string{"Location": `^/v2/src/blobs/uploads/[^/?#]+$`}},
		{name: "mount of an unknown blob", method: "POST", target: "/v2/src/blobs/uploads/?mount=" + never.d.String() + "&from=img", status: 202},
		{name: "mount did not leak the blob", method: "HEAD", target: "/v2/src/blobs/" + layer.d.String(), status: 404},
		{name: "mount sha256:zz", method: "POST", target: "/v2/src/blobs/uploads/?mount=sha256:zz&from=img", status: 400, code: oci.CodeDigestInvalid},
		{name: "mount md5", method: "POST", target: "/v2/src/blobs/uploads/?mount=md5:d41d8cd98f00b204e9800998ecf8427e&from=img", status: 400, code: oci.CodeDigestInvalid},
		{name: "mount into an invalid name", method: "POST", target: "/v2/Src/blobs/uploads/?mount=" + mnt.d.String() + "&from=src", status: 400, code: oci.CodeNameInvalid},
	})

	b.run(t, "blobs", []row{
		{name: "GET", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), status: 200, body: layer.b,
			want: map[string]string{"Content-Length": "4096", "Docker-Content-Digest": layer.d.String(), "Accept-Ranges": "bytes", "ETag": `"` + layer.d.String() + `"`}},
		{name: "HEAD", method: "HEAD", target: "/v2/img/blobs/" + layer.d.String(), status: 200, want: blobHdr(layer)},
		{name: "GET empty blob", method: "GET", target: "/v2/img/blobs/" + sha256Empty, status: 200, body: []byte{}, want: map[string]string{"Content-Length": "0"}},
		{name: "GET blob of another repo's upload", method: "GET", target: "/v2/deep/er/name/blobs/" + layer.d.String(), status: 200, body: layer.b},
		{name: "Range first bytes", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=0-99"},
			status: 206, body: layer.b[:100], want: map[string]string{"Content-Range": "bytes 0-99/4096", "Content-Length": "100"}},
		{name: "Range middle", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=1000-1999"},
			status: 206, body: layer.b[1000:2000], want: map[string]string{"Content-Range": "bytes 1000-1999/4096"}},
		{name: "Range open end", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=4000-"},
			status: 206, body: layer.b[4000:], want: map[string]string{"Content-Range": "bytes 4000-4095/4096", "Content-Length": "96"}},
		{name: "Range suffix", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=-10"},
			status: 206, body: layer.b[4086:], want: map[string]string{"Content-Range": "bytes 4086-4095/4096"}},
		{name: "Range end past the blob", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=4090-9999"},
			status: 206, body: layer.b[4090:], want: map[string]string{"Content-Range": "bytes 4090-4095/4096"}},
		{name: "HEAD Range", method: "HEAD", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=0-9"},
			status: 206, want: map[string]string{"Content-Range": "bytes 0-9/4096", "Content-Length": "10"}},
		{name: "Range start past the end", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=5000-6000"},
			status: 416, code: oci.CodeSizeInvalid, want: map[string]string{"Content-Range": "bytes */4096"}},
		{name: "Range inverted", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=10-5"},
			status: 416, code: oci.CodeSizeInvalid},
		{name: "Range garbage", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=x-y"},
			status: 416, code: oci.CodeSizeInvalid},
		{name: "Range zero suffix", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=-0"},
			status: 416, code: oci.CodeSizeInvalid},
		{name: "Range on empty blob", method: "GET", target: "/v2/img/blobs/" + sha256Empty, hdr: []string{"Range: bytes=0-0"},
			status: 416, code: oci.CodeSizeInvalid},
		{name: "HEAD Range start past the end", method: "HEAD", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=4096-"},
			status: 416, want: map[string]string{"Content-Range": "bytes */4096"}},
		{name: "Range multiple ranges served whole", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: bytes=0-1,5-6"},
			status: 200, body: layer.b},
		{name: "Range other unit ignored", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{"Range: items=0-1"},
			status: 200, body: layer.b},
		{name: "If-None-Match current", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{`If-None-Match: "` + layer.d.String() + `"`},
			status: 304, want: map[string]string{"ETag": `"` + layer.d.String() + `"`}},
		{name: "If-None-Match *", method: "HEAD", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{`If-None-Match: *`}, status: 304},
		{name: "If-None-Match other", method: "GET", target: "/v2/img/blobs/" + layer.d.String(), hdr: []string{`If-None-Match: "` + cfg.d.String() + `"`},
			status: 200, body: layer.b},
		{name: "GET unknown blob", method: "GET", target: "/v2/img/blobs/" + never.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "HEAD unknown blob", method: "HEAD", target: "/v2/img/blobs/" + never.d.String(), status: 404},
		{name: "GET blob of an unknown repo", method: "GET", target: "/v2/nowhere/blobs/" + layer.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "GET blob held by another repo only", method: "GET", target: "/v2/deep/er/name/blobs/" + cfg.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "GET sha256:zz", method: "GET", target: "/v2/img/blobs/sha256:zz", status: 400, code: oci.CodeDigestInvalid},
		{name: "GET short digest", method: "GET", target: "/v2/img/blobs/sha256:" + strings.Repeat("a", 63), status: 400, code: oci.CodeDigestInvalid},
		{name: "GET long digest", method: "GET", target: "/v2/img/blobs/sha256:" + strings.Repeat("a", 65), status: 400, code: oci.CodeDigestInvalid},
		{name: "GET uppercase digest", method: "GET", target: "/v2/img/blobs/" + strings.ToUpper(string(layer.d)), status: 400, code: oci.CodeDigestInvalid},
		{name: "GET md5", method: "GET", target: "/v2/img/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400, code: oci.CodeDigestInvalid},
		{name: "GET sha512", method: "GET", target: "/v2/img/blobs/sha512:" + strings.Repeat("ab", 64), status: 400, code: oci.CodeDigestInvalid},
		{name: "GET no algorithm", method: "GET", target: "/v2/img/blobs/" + layer.d.Encoded(), status: 400, code: oci.CodeDigestInvalid},
		{name: "GET empty algorithm", method: "GET", target: "/v2/img/blobs/:" + layer.d.Encoded(), status: 400, code: oci.CodeDigestInvalid},
		{name: "HEAD sha256:zz", method: "HEAD", target: "/v2/img/blobs/sha256:zz", status: 400},
		{name: "GET blob invalid name", method: "GET", target: "/v2/img_/blobs/" + layer.d.String(), status: 400, code: oci.CodeNameInvalid},
	})

	b.run(t, "blob delete", []row{
		{name: "DELETE mounted blob", method: "DELETE", target: "/v2/mounted/blobs/" + mnt.d.String(), status: 202},
		{name: "GET deleted blob", method: "GET", target: "/v2/mounted/blobs/" + mnt.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "DELETE deleted blob", method: "DELETE", target: "/v2/mounted/blobs/" + mnt.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "other repos keep it", method: "GET", target: "/v2/src/blobs/" + mnt.d.String(), status: 200, body: mnt.b},
		{name: "DELETE unknown blob", method: "DELETE", target: "/v2/img/blobs/" + never.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "DELETE blob of an unknown repo", method: "DELETE", target: "/v2/nowhere/blobs/" + layer.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "DELETE sha256:zz", method: "DELETE", target: "/v2/img/blobs/sha256:zz", status: 400, code: oci.CodeDigestInvalid},
		{name: "DELETE md5", method: "DELETE", target: "/v2/img/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400, code: oci.CodeDigestInvalid},
	})

	b.run(t, "manifest push", []row{
		{name: "PUT OCI manifest by tag", method: "PUT", target: "/v2/img/manifests/v1", hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 201, want: map[string]string{"Location": "/v2/img/manifests/" + m1.d.String(), "Docker-Content-Digest": m1.d.String(), "OCI-Subject": ""}},
		{name: "PUT again (idempotent)", method: "PUT", target: "/v2/img/manifests/v1", hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 201, want: created("/v2/img/manifests/"+m1.d.String(), m1.d.String())},
		{name: "PUT OCI manifest by digest", method: "PUT", target: "/v2/img/manifests/" + m2.d.String(), hdr: []string{ct(mtManifest)}, send: m2.b,
			status: 201, want: created("/v2/img/manifests/"+m2.d.String(), m2.d.String())},
		{name: "PUT OCI index", method: "PUT", target: "/v2/img/manifests/multi", hdr: []string{ct(mtIndex)}, send: idx.b,
			status: 201, want: created("/v2/img/manifests/"+idx.d.String(), idx.d.String())},
		{name: "PUT Docker schema2 manifest", method: "PUT", target: "/v2/img/manifests/docker", hdr: []string{ct(mtDocker)}, send: dm.b,
			status: 201, want: created("/v2/img/manifests/"+dm.d.String(), dm.d.String())},
		{name: "PUT Docker manifest list", method: "PUT", target: "/v2/img/manifests/dlist", hdr: []string{ct(mtDockerList)}, send: dl.b,
			status: 201, want: created("/v2/img/manifests/"+dl.d.String(), dl.d.String())},
		{name: "PUT manifest without mediaType field", method: "PUT", target: "/v2/img/manifests/nomt", hdr: []string{ct(mtManifest)}, send: noMT.b,
			status: 201, want: created("/v2/img/manifests/"+noMT.d.String(), noMT.d.String())},
		{name: "PUT Content-Type with parameters", method: "PUT", target: "/v2/img/manifests/a1", hdr: []string{ct(mtManifest + "; charset=utf-8")}, send: m1.b,
			status: 201, want: created("/v2/img/manifests/"+m1.d.String(), m1.d.String())},
		{name: "PUT without Content-Type", method: "PUT", target: "/v2/img/manifests/a1", send: m1.b,
			status: 201, want: created("/v2/img/manifests/"+m1.d.String(), m1.d.String())},
		{name: "PUT second tag", method: "PUT", target: "/v2/img/manifests/a2", hdr: []string{ct(mtManifest)}, send: m2.b, status: 201},
		{name: "PUT third tag", method: "PUT", target: "/v2/img/manifests/a3", hdr: []string{ct(mtManifest)}, send: m1.b, status: 201},
		{name: "PUT 128-character tag", method: "PUT", target: "/v2/img/manifests/" + tag128, hdr: []string{ct(mtManifest)}, send: m1.b, status: 201},
		{name: "PUT manifest of exactly 4 MiB", method: "PUT", target: "/v2/img/manifests/big", hdr: []string{ct(mtManifest)}, send: atLimit.b,
			status: 201, want: created("/v2/img/manifests/"+atLimit.d.String(), atLimit.d.String())},
		{name: "PUT into src", method: "PUT", target: "/v2/src/manifests/latest", hdr: []string{ct(mtManifest)}, send: srcM.b, status: 201},
		{name: "PUT into a deep name", method: "PUT", target: "/v2/deep/er/name/manifests/latest", hdr: []string{ct(mtManifest)}, send: deepM.b, status: 201},

		// subject and artifactType.
		{name: "PUT artifact with subject", method: "PUT", target: "/v2/img/manifests/" + sbom.d.String(), hdr: []string{ct(mtManifest)}, send: sbom.b,
			status: 201, want: map[string]string{"OCI-Subject": m1.d.String(), "Location": "/v2/img/manifests/" + sbom.d.String(), "Docker-Content-Digest": sbom.d.String()}},
		{name: "PUT artifact typed by its config", method: "PUT", target: "/v2/img/manifests/sig", hdr: []string{ct(mtManifest)}, send: sig.b,
			status: 201, want: map[string]string{"OCI-Subject": m1.d.String()}},
		{name: "PUT index with subject", method: "PUT", target: "/v2/img/manifests/" + refIdx.d.String(), hdr: []string{ct(mtIndex)}, send: refIdx.b,
			status: 201, want: map[string]string{"OCI-Subject": m1.d.String()}},
		{name: "PUT artifact with a missing subject", method: "PUT", target: "/v2/img/manifests/" + dangling.d.String(), hdr: []string{ct(mtManifest)}, send: dangling.b,
			status: 201, want: map[string]string{"OCI-Subject": zero}},

		// Missing references.
		{name: "PUT manifest with a missing layer", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: missingLayer,
			status: 400, code: oci.CodeManifestBlobUnknown},
		{name: "PUT manifest with a missing config", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: missingConfig,
			status: 400, code: oci.CodeManifestBlobUnknown},
		{name: "PUT manifest with another repo's blob", method: "PUT", target: "/v2/deep/er/name/manifests/bad", hdr: []string{ct(mtManifest)}, send: otherRepoBlob,
			status: 400, code: oci.CodeManifestBlobUnknown},
		{name: "PUT index with a missing child", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtIndex)}, send: missingChild,
			status: 400, code: oci.CodeManifestBlobUnknown},
		{name: "PUT index whose child is in another repo", method: "PUT", target: "/v2/src/manifests/bad", hdr: []string{ct(mtIndex)}, send: idx.b,
			status: 400, code: oci.CodeManifestBlobUnknown},
		{name: "PUT manifest with a wrong layer size", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: wrongSizeM,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "rejected pushes left no tag", method: "GET", target: "/v2/img/manifests/bad", status: 404, code: oci.CodeManifestUnknown},

		// Malformed manifests.
		{name: "PUT over 4 MiB", method: "PUT", target: "/v2/img/manifests/huge", hdr: []string{ct(mtManifest)}, send: overLimit.b,
			status: 413, code: oci.CodeSizeInvalid},
		{name: "PUT over 4 MiB chunked", method: "PUT", target: "/v2/img/manifests/huge", hdr: []string{ct(mtManifest)}, send: overLimit.b, chunked: true,
			status: 413, code: oci.CodeSizeInvalid},
		{name: "PUT declaring 1 GiB", method: "PUT", target: "/v2/img/manifests/huge", hdr: []string{ct(mtManifest)}, send: m1.b, cl: strconv.Itoa(1 << 30),
			status: 413, code: oci.CodeSizeInvalid},
		{name: "PUT body short of Content-Length", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: m1.b, cl: strconv.Itoa(len(m1.b) + 10), halfClose: true,
			status: 400, code: oci.CodeSizeInvalid},
		{name: "PUT malformed JSON", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: []byte(`{"schemaVersion":2,`),
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT empty body", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: []byte{},
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT JSON array", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: []byte(`[1,2]`),
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT schemaVersion 1", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: schema1,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT no schemaVersion", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: noSchema,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT schema1 prettyjws", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct("application/vnd.docker.distribution.manifest.v1+prettyjws")}, send: prettyJWS,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT Content-Type index for a manifest", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtIndex)}, send: m1.b,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT Content-Type Docker for an OCI manifest", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtDocker)}, send: m1.b,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT Content-Type unknown, no mediaType", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct("application/json")}, send: noMT.b,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT descriptor sha256:zz", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: badDescDigest,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT descriptor md5", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: md5Desc,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT descriptor negative size", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: negativeSize,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT descriptor without mediaType", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: noMediaTypeDesc,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT index child of the wrong size", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtIndex)}, send: childWrongSizeIdx,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT subject sha256:zz", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: badSubject,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT image manifest with manifests", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: manifestWithManifests,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT trailing data after the JSON", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: trailing,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT index with layers", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtIndex)}, send: indexWithLayers,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT manifest without config", method: "PUT", target: "/v2/img/manifests/bad", hdr: []string{ct(mtManifest)}, send: manifestNoConfig,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT by a digest the body does not have", method: "PUT", target: "/v2/img/manifests/" + m2.d.String(), hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 400, code: oci.CodeDigestInvalid},
		{name: "PUT by sha256:zz", method: "PUT", target: "/v2/img/manifests/sha256:zz", hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 400, code: oci.CodeDigestInvalid},
		{name: "PUT by sha512", method: "PUT", target: "/v2/img/manifests/sha512:" + strings.Repeat("ab", 64), hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 400, code: oci.CodeDigestInvalid},
		{name: "PUT 130-character tag", method: "PUT", target: "/v2/img/manifests/" + tag130, hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT tag with leading dot", method: "PUT", target: "/v2/img/manifests/.hidden", hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT tag with leading dash", method: "PUT", target: "/v2/img/manifests/-x", hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT tag ..", method: "PUT", target: "/v2/img/manifests/..", hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 400, code: oci.CodeManifestInvalid},
		{name: "PUT tag with encoded slash", method: "PUT", target: "/v2/img/manifests/a%2Fb", hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 404, code: oci.CodeNameUnknown},
		{name: "PUT invalid name", method: "PUT", target: "/v2/Img/manifests/v1", hdr: []string{ct(mtManifest)}, send: m1.b,
			status: 400, code: oci.CodeNameInvalid},
	})

	b.run(t, "manifest pull", []row{
		{name: "GET by tag", method: "GET", target: "/v2/img/manifests/v1", hdr: []string{"Accept: " + mtManifest}, status: 200, body: m1.b, want: manHdr(mtManifest, m1)},
		{name: "HEAD by tag", method: "HEAD", target: "/v2/img/manifests/v1", status: 200, want: manHdr(mtManifest, m1)},
		{name: "GET by digest", method: "GET", target: "/v2/img/manifests/" + m1.d.String(), status: 200, body: m1.b, want: manHdr(mtManifest, m1)},
		{name: "HEAD by digest", method: "HEAD", target: "/v2/img/manifests/" + m2.d.String(), status: 200, want: manHdr(mtManifest, m2)},
		{name: "GET index", method: "GET", target: "/v2/img/manifests/multi", status: 200, body: idx.b, want: manHdr(mtIndex, idx)},
		{name: "GET index child by digest", method: "GET", target: "/v2/img/manifests/" + m2.d.String(), status: 200, body: m2.b},
		{name: "GET Docker manifest", method: "GET", target: "/v2/img/manifests/docker", status: 200, body: dm.b, want: manHdr(mtDocker, dm)},
		{name: "GET Docker manifest list", method: "GET", target: "/v2/img/manifests/dlist", status: 200, body: dl.b, want: manHdr(mtDockerList, dl)},
		{name: "HEAD Docker manifest list by digest", method: "HEAD", target: "/v2/img/manifests/" + dl.d.String(), status: 200, want: manHdr(mtDockerList, dl)},
		{name: "GET manifest pushed without mediaType", method: "GET", target: "/v2/img/manifests/nomt", status: 200, body: noMT.b, want: manHdr(mtManifest, noMT)},
		{name: "GET artifact", method: "GET", target: "/v2/img/manifests/" + sbom.d.String(), status: 200, body: sbom.b, want: manHdr(mtManifest, sbom)},
		{name: "GET 4 MiB manifest", method: "GET", target: "/v2/img/manifests/big", status: 200, body: atLimit.b},
		{name: "GET 128-character tag", method: "GET", target: "/v2/img/manifests/" + tag128, status: 200, body: m1.b},
		{name: "GET deep name", method: "GET", target: "/v2/deep/er/name/manifests/latest", status: 200, body: deepM.b},
		{name: "If-None-Match current", method: "GET", target: "/v2/img/manifests/v1", hdr: []string{`If-None-Match: "` + m1.d.String() + `"`}, status: 304},
		{name: "If-None-Match other", method: "GET", target: "/v2/img/manifests/v1", hdr: []string{`If-None-Match: "` + m2.d.String() + `"`}, status: 200, body: m1.b},
		{name: "GET unknown tag", method: "GET", target: "/v2/img/manifests/nope", status: 404, code: oci.CodeManifestUnknown},
		{name: "HEAD unknown tag", method: "HEAD", target: "/v2/img/manifests/nope", status: 404},
		{name: "GET unknown digest", method: "GET", target: "/v2/img/manifests/" + zero, status: 404, code: oci.CodeManifestUnknown},
		{name: "GET a blob as a manifest", method: "GET", target: "/v2/img/manifests/" + layer.d.String(), status: 404, code: oci.CodeManifestUnknown},
		{name: "GET a manifest as a blob", method: "GET", target: "/v2/img/blobs/" + m1.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "GET manifest of another repo", method: "GET", target: "/v2/src/manifests/" + m1.d.String(), status: 404, code: oci.CodeManifestUnknown},
		{name: "GET manifest of an unknown repo", method: "GET", target: "/v2/nowhere/manifests/latest", status: 404, code: oci.CodeManifestUnknown},
		{name: "GET 130-character tag", method: "GET", target: "/v2/img/manifests/" + tag130, status: 404, code: oci.CodeManifestUnknown},
		{name: "GET tag with leading dot", method: "GET", target: "/v2/img/manifests/.v1", status: 404, code: oci.CodeManifestUnknown},
		{name: "GET by sha256:zz", method: "GET", target: "/v2/img/manifests/sha256:zz", status: 400, code: oci.CodeDigestInvalid},
		{name: "GET by short digest", method: "GET", target: "/v2/img/manifests/sha256:" + strings.Repeat("a", 63), status: 400, code: oci.CodeDigestInvalid},
		{name: "GET by md5", method: "GET", target: "/v2/img/manifests/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400, code: oci.CodeDigestInvalid},
		{name: "HEAD by sha512", method: "HEAD", target: "/v2/img/manifests/sha512:" + strings.Repeat("ab", 64), status: 400},
	})

	b.run(t, "tags", []row{
		{name: "list", method: "GET", target: "/v2/img/tags/list", status: 200, want: map[string]string{"Content-Type": "application/json", "Link": ""},
			check: jsonBody(`{"name":"img","tags":["a1","a2","a3","big","dlist","docker","multi","nomt","sig","` + tag128 + `","v1"]}`)},
		{name: "n=2", method: "GET", target: "/v2/img/tags/list?n=2", status: 200,
			want: map[string]string{"Link": `</v2/img/tags/list?last=a2&n=2>; rel="next"`}, check: jsonBody(`{"name":"img","tags":["a1","a2"]}`)},
		{name: "n=2&last=a2", method: "GET", target: "/v2/img/tags/list?n=2&last=a2", status: 200,
			want: map[string]string{"Link": `</v2/img/tags/list?last=big&n=2>; rel="next"`}, check: jsonBody(`{"name":"img","tags":["a3","big"]}`)},
		{name: "last without n", method: "GET", target: "/v2/img/tags/list?last=sig", status: 200,
			want: map[string]string{"Link": ""}, check: jsonBody(`{"name":"img","tags":["` + tag128 + `","v1"]}`)},
		{name: "last page exactly n", method: "GET", target: "/v2/img/tags/list?n=2&last=sig", status: 200,
			want: map[string]string{"Link": ""}, check: jsonBody(`{"name":"img","tags":["` + tag128 + `","v1"]}`)},
		{name: "last after every tag", method: "GET", target: "/v2/img/tags/list?last=zzz", status: 200,
			want: map[string]string{"Link": ""}, check: jsonBody(`{"name":"img","tags":[]}`)},
		{name: "n=0", method: "GET", target: "/v2/img/tags/list?n=0", status: 200,
			want: map[string]string{"Link": ""}, check: jsonBody(`{"name":"img","tags":[]}`)},
		{name: "n larger than the list", method: "GET", target: "/v2/img/tags/list?n=1000", status: 200, want: map[string]string{"Link": ""}},
		{name: "deep name", method: "GET", target: "/v2/deep/er/name/tags/list", status: 200, check: jsonBody(`{"name":"deep/er/name","tags":["latest"]}`)},
		{name: "n=-1", method: "GET", target: "/v2/img/tags/list?n=-1", status: 400, code: oci.CodeUnsupported},
		{name: "n=abc", method: "GET", target: "/v2/img/tags/list?n=abc", status: 400, code: oci.CodeUnsupported},
		{name: "repo without tags", method: "GET", target: "/v2/mounted/tags/list", status: 200, check: jsonBody(`{"name":"mounted","tags":[]}`)},
		{name: "unknown repo", method: "GET", target: "/v2/nowhere/tags/list", status: 404, code: oci.CodeNameUnknown},
		{name: "invalid name", method: "GET", target: "/v2/a__-b/tags/list", status: 400, code: oci.CodeNameInvalid},
	})

	b.run(t, "referrers", []row{
		{name: "GET", method: "GET", target: "/v2/img/referrers/" + m1.d.String(), status: 200,
			want: map[string]string{"Content-Type": mtIndex, "OCI-Filters-Applied": ""}, check: referrersBody(sbomRef, sigRef, refIdxRef)},
		{name: "artifactType filter", method: "GET", target: "/v2/img/referrers/" + m1.d.String() + "?artifactType=" + sbomType, status: 200,
			want: map[string]string{"Content-Type": mtIndex, "OCI-Filters-Applied": "artifactType"}, check: referrersBody(sbomRef)},
		{name: "artifactType from config", method: "GET", target: "/v2/img/referrers/" + m1.d.String() + "?artifactType=" + url.QueryEscape(sigCfgType), status: 200,
			want: map[string]string{"OCI-Filters-Applied": "artifactType"}, check: referrersBody(sigRef)},
		{name: "artifactType matching nothing", method: "GET", target: "/v2/img/referrers/" + m1.d.String() + "?artifactType=application/x-none", status: 200,
			want: map[string]string{"OCI-Filters-Applied": "artifactType"}, check: referrersBody()},
		{name: "missing subject", method: "GET", target: "/v2/img/referrers/" + zero, status: 200, check: referrersBody(danglingRef)},
		{name: "unknown subject", method: "GET", target: "/v2/img/referrers/" + never.d.String(), status: 200,
			want: map[string]string{"Content-Type": mtIndex}, check: referrersBody()},
		{name: "subject without referrers", method: "GET", target: "/v2/img/referrers/" + m2.d.String(), status: 200, check: referrersBody()},
		{name: "other repo", method: "GET", target: "/v2/src/referrers/" + m1.d.String(), status: 200, check: referrersBody()},
		{name: "unknown repo", method: "GET", target: "/v2/nowhere/referrers/" + m1.d.String(), status: 200, check: referrersBody()},
		{name: "sha256:zz", method: "GET", target: "/v2/img/referrers/sha256:zz", status: 400, code: oci.CodeDigestInvalid},
		{name: "md5", method: "GET", target: "/v2/img/referrers/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400, code: oci.CodeDigestInvalid},
		{name: "by tag", method: "GET", target: "/v2/img/referrers/v1", status: 400, code: oci.CodeDigestInvalid},
		{name: "invalid name", method: "GET", target: "/v2/-img/referrers/" + m1.d.String(), status: 400, code: oci.CodeNameInvalid},
	})

	b.run(t, "catalog", []row{
		{name: "all", method: "GET", target: "/v2/_catalog", status: 200, want: map[string]string{"Content-Type": "application/json", "Link": ""},
			check: jsonBody(`{"repositories":["deep/er/name","img","src"]}`)},
		{name: "n=1", method: "GET", target: "/v2/_catalog?n=1", status: 200,
			want: map[string]string{"Link": `</v2/_catalog?last=deep%2Fer%2Fname&n=1>; rel="next"`}, check: jsonBody(`{"repositories":["deep/er/name"]}`)},
		{name: "n=1&last=deep/er/name", method: "GET", target: "/v2/_catalog?n=1&last=deep%2Fer%2Fname", status: 200,
			want: map[string]string{"Link": `</v2/_catalog?last=img&n=1>; rel="next"`}, check: jsonBody(`{"repositories":["img"]}`)},
		{name: "n=5&last=img", method: "GET", target: "/v2/_catalog?n=5&last=img", status: 200,
			want: map[string]string{"Link": ""}, check: jsonBody(`{"repositories":["src"]}`)},
		{name: "n=0", method: "GET", target: "/v2/_catalog?n=0", status: 200, want: map[string]string{"Link": ""}, check: jsonBody(`{"repositories":[]}`)},
		{name: "n=x", method: "GET", target: "/v2/_catalog?n=x", status: 400, code: oci.CodeUnsupported},
	})

	b.run(t, "manifest delete", []row{
		{name: "DELETE tag", method: "DELETE", target: "/v2/img/manifests/a3", status: 202},
		{name: "deleted tag is gone", method: "GET", target: "/v2/img/manifests/a3", status: 404, code: oci.CodeManifestUnknown},
		{name: "its manifest stays", method: "GET", target: "/v2/img/manifests/" + m1.d.String(), status: 200, body: m1.b},
		{name: "DELETE tag again", method: "DELETE", target: "/v2/img/manifests/a3", status: 404, code: oci.CodeManifestUnknown},
		{name: "DELETE by digest", method: "DELETE", target: "/v2/img/manifests/" + dm.d.String(), status: 202},
		{name: "deleted digest is gone", method: "HEAD", target: "/v2/img/manifests/" + dm.d.String(), status: 404},
		{name: "tags of a deleted digest are gone", method: "GET", target: "/v2/img/manifests/docker", status: 404, code: oci.CodeManifestUnknown},
		{name: "DELETE referrer", method: "DELETE", target: "/v2/img/manifests/" + sbom.d.String(), status: 202},
		{name: "referrers without it", method: "GET", target: "/v2/img/referrers/" + m1.d.String(), status: 200, check: referrersBody(sigRef, refIdxRef)},
		{name: "tags without the deleted ones", method: "GET", target: "/v2/img/tags/list?n=3", status: 200,
			want: map[string]string{"Link": `</v2/img/tags/list?last=big&n=3>; rel="next"`}, check: jsonBody(`{"name":"img","tags":["a1","a2","big"]}`)},
		{name: "PUT a deleted manifest again", method: "PUT", target: "/v2/img/manifests/docker", hdr: []string{ct(mtDocker)}, send: dm.b,
			status: 201, want: created("/v2/img/manifests/"+dm.d.String(), dm.d.String())},
		{name: "GET it again", method: "GET", target: "/v2/img/manifests/" + dm.d.String(), status: 200, body: dm.b, want: manHdr(mtDocker, dm)},
		{name: "DELETE unknown digest", method: "DELETE", target: "/v2/img/manifests/" + zero, status: 404, code: oci.CodeManifestUnknown},
		{name: "DELETE unknown tag", method: "DELETE", target: "/v2/img/manifests/nope", status: 404, code: oci.CodeManifestUnknown},
		{name: "DELETE in an unknown repo", method: "DELETE", target: "/v2/nowhere/manifests/" + m1.d.String(), status: 404, code: oci.CodeManifestUnknown},
		{name: "DELETE sha256:zz", method: "DELETE", target: "/v2/img/manifests/sha256:zz", status: 400, code: oci.CodeDigestInvalid},
		{name: "DELETE invalid tag", method: "DELETE", target: "/v2/img/manifests/" + tag130, status: 400, code: oci.CodeManifestInvalid},
		{name: "DELETE invalid name", method: "DELETE", target: "/v2/img./manifests/v1", status: 400, code: oci.CodeNameInvalid},
	})

	blobPath := "/blobs/" + layer.d.String()
	b.run(t, "names and traversal", []row{
		{name: "uppercase", method: "GET", target: "/v2/Img/manifests/v1", status: 400, code: oci.CodeNameInvalid},
		{name: "empty element", method: "GET", target: "/v2/a//b/manifests/v1", status: 400, code: oci.CodeNameInvalid},
		{name: "leading slash element", method: "GET", target: "/v2//img/manifests/v1", status: 400, code: oci.CodeNameInvalid},
		{name: "trailing slash element", method: "GET", target: "/v2/img//manifests/v1", status: 400, code: oci.CodeNameInvalid},
		{name: ".. element", method: "GET", target: "/v2/a/../img/manifests/v1", status: 400, code: oci.CodeNameInvalid},
		{name: ". element", method: "GET", target: "/v2/./img/manifests/v1", status: 400, code: oci.CodeNameInvalid},
		{name: "255 characters", method: "GET", target: "/v2/" + name255 + "/manifests/v1", status: 404, code: oci.CodeManifestUnknown},
		{name: "256 characters", method: "GET", target: "/v2/" + name256 + "/manifests/v1", status: 400, code: oci.CodeNameInvalid},
		{name: "256 characters, upload", method: "POST", target: "/v2/" + name256 + "/blobs/uploads/", status: 400, code: oci.CodeNameInvalid},
		{name: "overlong path", method: "GET", target: "/v2/" + strings.Repeat("a/", 600) + "manifests/v1", status: 400, code: oci.CodeNameInvalid},
		{name: "separator at the end", method: "GET", target: "/v2/img-/tags/list", status: 400, code: oci.CodeNameInvalid},
		{name: "triple underscore", method: "GET", target: "/v2/a___b/tags/list", status: 400, code: oci.CodeNameInvalid},
		{name: "space", method: "GET", target: "/v2/a%20b/tags/list", status: 400, code: oci.CodeNameInvalid},
		{name: "NUL", method: "GET", target: "/v2/img%00/tags/list", status: 400, code: oci.CodeNameInvalid},
		{name: "unicode", method: "GET", target: "/v2/%C3%A9/tags/list", status: 400, code: oci.CodeNameInvalid},
		{name: "../../etc/passwd", method: "GET", target: "/v2/../../etc/passwd" + blobPath, status: 400, code: oci.CodeNameInvalid},
		{name: "../../etc/passwd HEAD", method: "HEAD", target: "/v2/../../etc/passwd" + blobPath, status: 400},
		{name: "%2e%2e", method: "GET", target: "/v2/%2e%2e/%2e%2e/etc/passwd" + blobPath, status: 400, code: oci.CodeNameInvalid},
		{name: "%2E%2E", method: "GET", target: "/v2/img/%2E%2E/%2E%2E" + blobPath, status: 400, code: oci.CodeNameInvalid},
		{name: "double-encoded ..", method: "GET", target: "/v2/%252e%252e/img" + blobPath, status: 400, code: oci.CodeNameInvalid},
		{name: "encoded slashes with ..", method: "GET", target: "/v2/img%2F..%2F..%2Fetc" + blobPath, status: 400, code: oci.CodeNameInvalid},
		{name: "encoded backslash", method: "GET", target: "/v2/img%5C..%5C..%5Cetc" + blobPath, status: 400, code: oci.CodeNameInvalid},
		{name: "encoded slash in a valid name", method: "GET", target: "/v2/deep%2Fer%2Fname/tags/list", status: 200,
			check: jsonBody(`{"name":"deep/er/name","tags":["latest"]}`)},
		{name: "traversal in the digest", method: "GET", target: "/v2/img/blobs/..%2F..%2F..%2Fdfsreg.db", status: 404, code: oci.CodeNameUnknown},
		{name: "traversal in the reference", method: "GET", target: "/v2/img/manifests/..%2F..%2Fdfsreg.db", status: 404, code: oci.CodeNameUnknown},
		{name: "traversal in a digest's hex", method: "GET", target: "/v2/img/blobs/sha256:..%2F..%2F..%2F" + strings.Repeat("a", 55), status: 404, code: oci.CodeNameUnknown},
		{name: "traversal upload", method: "POST", target: "/v2/../uploads/blobs/uploads/?digest=" + never.d.String(), send: never.b, status: 400, code: oci.CodeNameInvalid},
		{name: "absolute-form target", method: "GET", target: "http://" + b.addr + "/v2/img/manifests/v1", status: 200, body: m1.b},
		{name: "no /v2/ prefix", method: "GET", target: "/v3/img/manifests/v1", status: 404, code: oci.CodeNameUnknown},
		{name: "/v2 without slash", method: "GET", target: "/v2", status: 404, code: oci.CodeNameUnknown},
		{name: "root", method: "GET", target: "/", status: 404, code: oci.CodeNameUnknown},
		{name: "unknown endpoint", method: "GET", target: "/v2/img/frobs/x", status: 404, code: oci.CodeNameUnknown},
		{name: "name only", method: "GET", target: "/v2/img", status: 404, code: oci.CodeNameUnknown},
		{name: "empty reference", method: "GET", target: "/v2/img/manifests/", status: 404, code: oci.CodeNameUnknown},
		{name: "empty digest", method: "GET", target: "/v2/img/blobs/", status: 404, code: oci.CodeNameUnknown},
		{name: "catalog with a name", method: "GET", target: "/v2/img/_catalog", status: 404, code: oci.CodeNameUnknown},
	})

	// Repository names may contain the words the endpoints use.
	b.run(t, "names like endpoints", []row{
		{name: "POST blob into x/blobs", method: "POST", target: "/v2/x/blobs/blobs/uploads/?digest=" + cfg.d.String(), send: cfg.b,
			status: 201, want: created("/v2/x/blobs/blobs/"+cfg.d.String(), cfg.d.String())},
		{name: "GET blob of x/blobs", method: "GET", target: "/v2/x/blobs/blobs/" + cfg.d.String(), status: 200, body: cfg.b},
		{name: "x/blobs is not x", method: "GET", target: "/v2/x/blobs/" + cfg.d.String(), status: 404, code: oci.CodeBlobUnknown},
		{name: "session in x/blobs/uploads", method: "POST", target: "/v2/x/blobs/uploads/blobs/uploads/", status: 202,
			want: uploadLoc("x/blobs/uploads", "upx"), save: saveUpload("upx")},
		{name: "close it", method: "PUT", target: "{upx_loc}?digest=" + cfg.d.String(), send: cfg.b,
			status: 201, want: created("/v2/x/blobs/uploads/blobs/"+cfg.d.String(), cfg.d.String())},
		{name: "mount into x/manifests", method: "POST", target: "/v2/x/manifests/blobs/uploads/?mount=" + cfg.d.String() + "&from=x/blobs",
			status: 201, want: created("/v2/x/manifests/blobs/"+cfg.d.String(), cfg.d.String())},
		{name: "PUT manifest into x/manifests", method: "PUT", target: "/v2/x/manifests/manifests/list", hdr: []string{ct(mtManifest)}, send: noMT.b,
			status: 201, want: created("/v2/x/manifests/manifests/"+noMT.d.String(), noMT.d.String())},
		{name: "GET it", method: "GET", target: "/v2/x/manifests/manifests/list", status: 200, body: noMT.b},
		{name: "tags of x/manifests", method: "GET", target: "/v2/x/manifests/tags/list", status: 200, check: jsonBody(`{"name":"x/manifests","tags":["list"]}`)},
		{name: "referrers in x/referrers", method: "GET", target: "/v2/x/referrers/referrers/" + m1.d.String(), status: 200, check: referrersBody()},
	})

	b.run(t, "methods", []row{
		{name: "PUT /v2/", method: "PUT", target: "/v2/", send: []byte{}, status: 405, code: oci.CodeUnsupported},
		{name: "DELETE /v2/", method: "DELETE", target: "/v2/", status: 405, code: oci.CodeUnsupported},
		{name: "POST catalog", method: "POST", target: "/v2/_catalog", send: []byte{}, status: 405, code: oci.CodeUnsupported},
		{name: "PUT tags", method: "PUT", target: "/v2/img/tags/list", send: []byte{}, status: 405, code: oci.CodeUnsupported},
		{name: "POST manifest", method: "POST", target: "/v2/img/manifests/v1", send: m1.b, status: 405, code: oci.CodeUnsupported},
		{name: "PATCH manifest", method: "PATCH", target: "/v2/img/manifests/v1", send: m1.b, status: 405, code: oci.CodeUnsupported},
		{name: "PUT blob", method: "PUT", target: "/v2/img/blobs/" + never.d.String(), send: never.b, status: 405, code: oci.CodeUnsupported},
		{name: "POST blob", method: "POST", target: "/v2/img/blobs/" + never.d.String(), send: never.b, status: 405, code: oci.CodeUnsupported},
		{name: "GET uploads", method: "GET", target: "/v2/img/blobs/uploads/", status: 405, code: oci.CodeUnsupported},
		{name: "PUT uploads", method: "PUT", target: "/v2/img/blobs/uploads/", send: []byte{}, status: 405, code: oci.CodeUnsupported},
		{name: "POST upload", method: "POST", target: "/v2/img/blobs/uploads/0123456789abcdef0123456789abcdef", send: []byte{}, status: 405, code: oci.CodeUnsupported},
		{name: "HEAD upload", method: "HEAD", target: "/v2/img/blobs/uploads/0123456789abcdef0123456789abcdef", status: 405},
		{name: "DELETE referrers", method: "DELETE", target: "/v2/img/referrers/" + m1.d.String(), status: 405, code: oci.CodeUnsupported},
		{name: "OPTIONS", method: "OPTIONS", target: "/v2/", status: 200, match: map[string]string{"Allow": `\bGET\b`}},
		{name: "TRACE", method: "TRACE", target: "/v2/", status: 405, code: oci.CodeUnsupported},
		{name: "unknown method", method: "FROB", target: "/v2/img/manifests/v1", status: 405, code: oci.CodeUnsupported},
	})
}

func ptr[T any](v T) *T { return &v }

// padManifest returns an OCI manifest of exactly size bytes (an annotation
// pads it).
func padManifest(cfg blob, size int) blob {
	m := manifestOf(mtManifest, cfg.desc(mtConfig))
	m.Annotations = map[string]string{"pad": ""}
	n := len(mustJSON(m))
	m.Annotations["pad"] = strings.Repeat("p", size-n)
	return newBlob(mustJSON(m))
}
