package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// blob is test content that is never kept: Size bytes of a deterministic
// pseudo-random stream chosen by Seed, re-generated whenever it is needed.
type blob struct {
	Seed uint64
	Size int64
}

// stream returns the blob's bytes from offset off to the end.
func (b blob) stream(off int64) io.Reader {
	s := newStream(b.Seed, b.Size)
	if off > 0 {
		io.CopyN(io.Discard, s, off)
	}
	return s
}

// digest computes the blob's sha256 digest by generating it.
func (b blob) digest() string {
	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	io.CopyBuffer(h, b.stream(0), *buf)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// genStream is xoshiro256** seeded through splitmix64: a deterministic
// stream whose bytes depend only on the seed and the position, generated at
// several GB/s (ChaCha8 would make generation, not the server, the
// bottleneck of the 1 GiB tests on this 2-core machine).
type genStream struct {
	s    [4]uint64
	left int64
	pend [8]byte
	npen int // unread bytes at the end of pend
}

func newStream(seed uint64, size int64) *genStream {
	g := &genStream{left: size}
	x := seed
	for i := range g.s {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		g.s[i] = z ^ z>>31
	}
	return g
}

func (g *genStream) next() uint64 {
	s := &g.s
	r := rotl(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = rotl(s[3], 45)
	return r
}

func rotl(x uint64, k uint) uint64 { return x<<k | x>>(64-k) }

func (g *genStream) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := 0
	for g.npen > 0 && n < len(p) {
		p[n] = g.pend[8-g.npen]
		g.npen--
		n++
	}
	for ; n+8 <= len(p); n += 8 {
		binary.LittleEndian.PutUint64(p[n:], g.next())
	}
	if n < len(p) {
		binary.LittleEndian.PutUint64(g.pend[:], g.next())
		g.npen = 8
		for n < len(p) {
			p[n] = g.pend[8-g.npen]
			g.npen--
			n++
		}
	}
	g.left -= int64(n)
	return n, nil
}

// client speaks the distribution API with raw requests.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string) *client {
	return &client{base: base, hc: &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// statusError is an answer the test did not expect: always a failure,
// unlike a transport error, which is expected once the server is killed.
type statusError struct {
	what   string
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: unexpected status %d: %s", e.what, e.status, e.body)
}

func isStatusError(err error) bool {
	var se *statusError
	return errors.As(err, &se)
}

func unexpected(what string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2<<10))
	return &statusError{what: what, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
}

// url resolves a path, or the path and query of a Location header (which may
// be absolute and name a server that has since been restarted elsewhere),
// against the current server, adding q.
func (c *client) url(loc string, q url.Values) string {
	u, err := url.Parse(loc)
	if err != nil {
		return c.base + loc
	}
	qq := u.Query()
	for k, v := range q {
		qq[k] = v
	}
	s := c.base + u.EscapedPath()
	if len(qq) > 0 {
		s += "?" + qq.Encode()
	}
	return s
}

func (c *client) do(ctx context.Context, method, u string, body io.Reader, size int64, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.hc.Do(req)
}

// drain reads what is left of a response and closes it, so that the
// connection can be reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// ping is GET /v2/, which must answer 200.
func (c *client) ping(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodGet, c.base+"/v2/", nil, 0, nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return unexpected("GET /v2/", resp)
	}
	return nil
}

// startUpload opens an upload session and returns its Location.
func (c *client) startUpload(ctx context.Context, repo string) (string, error) {
	what := "POST /v2/" + repo + "/blobs/uploads/"
	resp, err := c.do(ctx, http.MethodPost, c.base+"/v2/"+repo+"/blobs/uploads/", nil, 0, nil)
	if err != nil {
		return "", err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusAccepted {
		return "", unexpected(what, resp)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", &statusError{what: what, status: resp.StatusCode, body: "no Location header"}
	}
	return loc, nil
}

// checkCreated checks a 201 for blob dgst.
func checkCreated(what string, resp *http.Response, dgst string) error {
	if resp.StatusCode != http.StatusCreated {
		return unexpected(what, resp)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != dgst {
		return &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("Docker-Content-Digest %q, want %q", got, dgst)}
	}
	if resp.Header.Get("Location") == "" {
		return &statusError{what: what, status: resp.StatusCode, body: "201 without Location"}
	}
	return nil
}

// putBlob closes the upload at loc with the rest of blob b from offset off
// as the PUT's body (nothing when off == b.Size).
func (c *client) putBlob(ctx context.Context, loc string, b blob, dgst string, off int64) error {
	var body io.Reader = http.NoBody
	if off < b.Size {
		body = b.stream(off)
	}
	resp, err := c.do(ctx, http.MethodPut, c.url(loc, url.Values{"digest": {dgst}}), body, b.Size-off,
		map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return err
	}
	defer drain(resp)
	return checkCreated("PUT "+loc, resp, dgst)
}

// postBlob pushes b in a single POST ?digest=.
func (c *client) postBlob(ctx context.Context, repo string, b blob, dgst string) error {
	u := c.base + "/v2/" + repo + "/blobs/uploads/?digest=" + url.QueryEscape(dgst)
	resp, err := c.do(ctx, http.MethodPost, u, b.stream(0), b.Size, map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return err
	}
	defer drain(resp)
	return checkCreated("POST ?digest= "+repo, resp, dgst)
}

// patch sends bytes [start, start+n) of body as a chunk and returns the new
// Location.
func (c *client) patch(ctx context.Context, loc string, body io.Reader, start, n int64) (string, error) {
	hdr := map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", start, start+n-1),
	}
	what := fmt.Sprintf("PATCH %s [%d,%d)", loc, start, start+n)
	resp, err := c.do(ctx, http.MethodPatch, c.url(loc, nil), body, n, hdr)
	if err != nil {
		return "", err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusAccepted {
		return "", unexpected(what, resp)
	}
	if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", start+n-1); got != want {
		return "", &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("Range %q, want %q", got, want)}
	}
	next := resp.Header.Get("Location")
	if next == "" {
		return "", &statusError{what: what, status: resp.StatusCode, body: "no Location"}
	}
	return next, nil
}

// uploadStatus asks for an upload's progress: ok false when the session is
// unknown (404 BLOB_UPLOAD_UNKNOWN), else the offset (bytes received).
func (c *client) uploadStatus(ctx context.Context, loc string) (offset int64, ok bool, err error) {
	what := "GET " + loc
	resp, err := c.do(ctx, http.MethodGet, c.url(loc, nil), nil, 0, nil)
	if err != nil {
		return 0, false, err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusNoContent:
	case http.StatusNotFound:
		if err := wantCode(what, resp, "BLOB_UPLOAD_UNKNOWN"); err != nil {
			return 0, false, err
		}
		return 0, false, nil
	default:
		return 0, false, unexpected(what, resp)
	}
	rg := resp.Header.Get("Range")
	a, b, found := strings.Cut(rg, "-")
	end, err := strconv.ParseInt(b, 10, 64)
	if !found || a != "0" || err != nil {
		return 0, false, &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("bad Range %q", rg)}
	}
	// "0-0" is also what an empty upload answers; the tests' chunks are
	// never a single byte, so it means 0 here.
	if end == 0 {
		return 0, true, nil
	}
	return end + 1, true, nil
}

// wantCode checks that an error response carries OCI error code code.
func wantCode(what string, resp *http.Response, code string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(b, &env); err != nil || len(env.Errors) == 0 || env.Errors[0].Code != code {
		return &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("want error code %s, body %s", code, b)}
	}
	return nil
}

// getBlob fetches blob dgst of repo and checks every byte: found false for
// 404 BLOB_UNKNOWN; an error for anything else than the exact content.
func (c *client) getBlob(ctx context.Context, repo string, b blob, dgst string) (found bool, err error) {
	what := "GET /v2/" + repo + "/blobs/" + dgst
	resp, err := c.do(ctx, http.MethodGet, c.base+"/v2/"+repo+"/blobs/"+dgst, nil, 0, nil)
	if err != nil {
		return false, err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return false, wantCode(what, resp, "BLOB_UNKNOWN")
	default:
		return false, unexpected(what, resp)
	}
	if resp.ContentLength != b.Size {
		return true, &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("Content-Length %d, the blob has %d bytes", resp.ContentLength, b.Size)}
	}
	got, n, err := hashReader(resp.Body)
	if err != nil {
		return true, fmt.Errorf("%s: reading the body: %w", what, err)
	}
	if n != b.Size || got != dgst {
		return true, &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("body has %d bytes hashing to %s, want %d bytes of %s", n, got, b.Size, dgst)}
	}
	return true, nil
}

// headBlob checks that repo holds a blob dgst of size bytes.
func (c *client) headBlob(ctx context.Context, repo, dgst string, size int64) error {
	what := "HEAD /v2/" + repo + "/blobs/" + dgst
	resp, err := c.do(ctx, http.MethodHead, c.base+"/v2/"+repo+"/blobs/"+dgst, nil, 0, nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return &statusError{what: what, status: resp.StatusCode}
	}
	if resp.ContentLength != size {
		return &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("Content-Length %d, want %d", resp.ContentLength, size)}
	}
	return nil
}

func hashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	n, err := io.CopyBuffer(h, r, *buf)
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, err
}

const mediaManifest = "application/vnd.oci.image.manifest.v1+json"

// putManifest stores body under ref and checks the digest the server
// reports.
func (c *client) putManifest(ctx context.Context, repo, ref string, body []byte) error {
	what := "PUT /v2/" + repo + "/manifests/" + ref
	resp, err := c.do(ctx, http.MethodPut, c.base+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body), int64(len(body)),
		map[string]string{"Content-Type": mediaManifest})
	if err != nil {
		return err
	}
	defer drain(resp)
	return checkCreated(what, resp, sha256Digest(body))
}

// getManifest fetches a manifest: found false for 404 MANIFEST_UNKNOWN.
func (c *client) getManifest(ctx context.Context, repo, ref string) (body []byte, dgst string, found bool, err error) {
	what := "GET /v2/" + repo + "/manifests/" + ref
	resp, err := c.do(ctx, http.MethodGet, c.base+"/v2/"+repo+"/manifests/"+ref, nil, 0, map[string]string{"Accept": mediaManifest})
	if err != nil {
		return nil, "", false, err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, "", false, wantCode(what, resp, "MANIFEST_UNKNOWN")
	default:
		return nil, "", false, unexpected(what, resp)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20+1))
	if err != nil {
		return nil, "", true, fmt.Errorf("%s: %w", what, err)
	}
	d := sha256Digest(body)
	if got := resp.Header.Get("Docker-Content-Digest"); got != d {
		return nil, "", true, &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("Docker-Content-Digest %q for a body of digest %s", got, d)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != mediaManifest {
		return nil, "", true, &statusError{what: what, status: resp.StatusCode, body: fmt.Sprintf("Content-Type %q", ct)}
	}
	return body, d, true, nil
}

// tagList returns every tag of repo (following Link pagination).
func (c *client) tagList(ctx context.Context, repo string) ([]string, error) {
	var tags []string
	next := "/v2/" + repo + "/tags/list?n=50"
	for next != "" {
		resp, err := c.do(ctx, http.MethodGet, c.url(next, nil), nil, 0, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			err := unexpected("GET "+next, resp)
			resp.Body.Close()
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		drain(resp)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", next, err)
		}
		tags = append(tags, page.Tags...)
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			if i, j := strings.IndexByte(l, '<'), strings.IndexByte(l, '>'); i >= 0 && j > i {
				next = l[i+1 : j]
			}
		}
	}
	return tags, nil
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}
