package serve

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dfsreg/dfsreg/internal/auth"
	"github.com/dfsreg/dfsreg/internal/oci"
)

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

func blobLocation(name, d string) string { return "/v2/" + name + "/blobs/" + d }

// contentLength returns the request's declared body length, or -1.
func contentLength(r *http.Request) int64 {
	if r.ContentLength >= 0 && (r.ContentLength > 0 || r.Header.Get("Content-Length") != "") {
		return r.ContentLength
	}
	return -1
}

func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	q := r.URL.Query()
	ctx := r.Context()
	if mount := q.Get("mount"); mount != "" {
		d, err := oci.ParseDigest(mount)
		if err != nil {
			return err
		}
		// Without "from" dfsreg does not look for the blob elsewhere: that
		// would reveal content of repositories the client did not name; nor
		// from a repository the caller may not pull.
		if from := q.Get("from"); from != "" && rt.may(auth.Repository(from, auth.Pull)) {
			ok, err := s.store.MountBlob(ctx, from, rt.name, d)
			if err != nil {
				return err
			}
			if ok {
				return created(w, blobLocation(rt.name, d.String()), d.String())
			}
		}
	}
	if dq := q.Get("digest"); dq != "" { // monolithic upload in one POST
		d, err := oci.ParseDigest(dq)
		if err != nil {
			return err
		}
		if _, err := s.store.PutBlob(ctx, rt.name, d, contentLength(r), r.Body); err != nil {
			return err
		}
		return created(w, blobLocation(rt.name, d.String()), d.String())
	}
	u, err := s.store.StartUpload(ctx, rt.name)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", uploadLocation(rt.name, u.ID))
	h.Set("Docker-Upload-UUID", u.ID)
	h.Set("Range", "0-0")
	h.Set("OCI-Chunk-Min-Length", "0")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func created(w http.ResponseWriter, location, dgst string) error {
	h := w.Header()
	h.Set("Location", location)
	h.Set("Docker-Content-Digest", dgst)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// progress answers with an upload's state (202 after a chunk, 204 on GET).
func progress(w http.ResponseWriter, name, id string, offset int64, status int) error {
	h := w.Header()
	h.Set("Location", uploadLocation(name, id))
	h.Set("Docker-Upload-UUID", id)
	end := offset - 1
	if end < 0 {
		end = 0
	}
	h.Set("Range", fmt.Sprintf("0-%d", end))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

func (s *Server) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := s.store.UploadStatus(r.Context(), rt.name, rt.arg)
	if err != nil {
		return err
	}
	return progress(w, rt.name, rt.arg, u.Offset, http.StatusNoContent)
}

// chunkRange reads Content-Range ("start-end", optionally "bytes start-end"
// or "bytes start-end/total") and checks it against Content-Length. It
// returns start -1 when the header is absent.
func chunkRange(r *http.Request) (start, length int64, err error) {
	length = contentLength(r)
	cr := strings.TrimSpace(r.Header.Get("Content-Range"))
	if cr == "" {
		return -1, length, nil
	}
	cr = strings.TrimSpace(strings.TrimPrefix(cr, "bytes"))
	cr, _, _ = strings.Cut(cr, "/")
	a, b, ok := strings.Cut(strings.TrimSpace(cr), "-")
	s, err1 := strconv.ParseInt(a, 10, 64)
	e, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || s < 0 || e < s {
		return 0, 0, oci.Err(oci.CodeBlobUploadInvalid, "bad Content-Range %q", truncate(r.Header.Get("Content-Range"), 100)).WithStatus(http.StatusRequestedRangeNotSatisfiable)
	}
	if length >= 0 && e-s+1 != length {
		return 0, 0, oci.Err(oci.CodeSizeInvalid, "Content-Range %q does not match Content-Length %d", truncate(r.Header.Get("Content-Range"), 100), length).WithStatus(http.StatusRequestedRangeNotSatisfiable)
	}
	return s, e - s + 1, nil
}

func (s *Server) patchUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	start, length, err := chunkRange(r)
	if err != nil {
		return err
	}
	offset, err := s.store.AppendUpload(r.Context(), rt.name, rt.arg, start, length, r.Body)
	if err != nil {
		return err
	}
	return progress(w, rt.name, rt.arg, offset, http.StatusAccepted)
}

func (s *Server) finishUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	dq := r.URL.Query().Get("digest")
	if dq == "" {
		return oci.Err(oci.CodeDigestInvalid, "the closing PUT needs ?digest=")
	}
	d, err := oci.ParseDigest(dq)
	if err != nil {
		return err
	}
	start, length, err := chunkRange(r)
	if err != nil {
		return err
	}
	if _, err := s.store.FinishUpload(r.Context(), rt.name, rt.arg, d, start, length, r.Body); err != nil {
		return err
	}
	return created(w, blobLocation(rt.name, d.String()), d.String())
}

func (s *Server) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := s.store.CancelUpload(r.Context(), rt.name, rt.arg); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
