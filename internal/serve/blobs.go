package serve

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
)

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := oci.ParseDigest(rt.arg)
	if err != nil {
		return err
	}
	size, err := s.store.StatBlob(r.Context(), rt.name, d)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Docker-Content-Digest", d.String())
	h.Set("ETag", `"`+d.String()+`"`)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "max-age=31536000")
	if etagMatch(r.Header.Get("If-None-Match"), d) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	offset, length, partial, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		return err
	}
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, size))
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	rc, err := s.store.OpenBlob(r.Context(), rt.name, d, offset, length)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.WriteHeader(status)
	// Once the status is out an error can only cut the body short, which
	// the client detects by Content-Length; log it.
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		s.log.Warn("blob read failed", "repo", rt.name, "digest", d, "err", err)
	}
	return nil
}

// parseRange reads a single "bytes=a-b" range; anything else (multiple
// ranges, other units) is ignored and the whole blob served, as RFC 9110
// allows. An unsatisfiable range is 416.
func parseRange(header string, size int64) (offset, length int64, partial bool, err error) {
	if header == "" || !hasPrefixFold(header, "bytes=") || strings.Contains(header, ",") {
		return 0, size, false, nil
	}
	spec := strings.TrimSpace(header[len("bytes="):])
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, size, false, nil
	}
	bad := oci.Err(oci.CodeSizeInvalid, "range %q is not satisfiable for a blob of %d bytes", truncate(header, 100), size).WithStatus(http.StatusRequestedRangeNotSatisfiable)
	switch {
	case a == "": // suffix: the last b bytes
		n, perr := strconv.ParseInt(b, 10, 64)
		if perr != nil || n <= 0 {
			return 0, 0, false, bad
		}
		n = min(n, size)
		return size - n, n, true, nil
	default:
		start, perr := strconv.ParseInt(a, 10, 64)
		if perr != nil || start < 0 || start >= size {
			return 0, 0, false, bad
		}
		end := size - 1
		if b != "" {
			e, perr := strconv.ParseInt(b, 10, 64)
			if perr != nil || e < start {
				return 0, 0, false, bad
			}
			end = min(e, size-1)
		}
		return start, end - start + 1, true, nil
	}
}

func etagMatch(header string, d digest.Digest) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || strings.Trim(t, `"`) == d.String() {
			return true
		}
	}
	return false
}

func (s *Server) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := oci.ParseDigest(rt.arg)
	if err != nil {
		return err
	}
	if err := s.store.DeleteBlob(r.Context(), rt.name, d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
