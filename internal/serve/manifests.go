package serve

import (
	"io"
	"net/http"
	"strconv"

	"github.com/dfsreg/dfsreg/internal/oci"
)

func (s *Server) getManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	// Resolve: a tag or digest as stored, or a 2DFS semantic reference
	// (<tag>--r1.c1.r2.c2) answered with the partition.
	m, err := s.store.Resolve(r.Context(), rt.name, rt.arg)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", m.Digest.String())
	h.Set("ETag", `"`+m.Digest.String()+`"`)
	if etagMatch(r.Header.Get("If-None-Match"), m.Digest) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Length", strconv.Itoa(len(m.Body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(m.Body)
	}
	return nil
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	if r.ContentLength > oci.MaxManifestSize {
		return tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, oci.MaxManifestSize+1))
	if err != nil {
		return err
	}
	if len(body) > oci.MaxManifestSize {
		return tooLarge()
	}
	res, err := s.store.PutManifest(r.Context(), rt.name, rt.arg, r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	h := w.Header()
	if res.Manifest.Subject != nil {
		h.Set("OCI-Subject", res.Manifest.Subject.Digest.String())
	}
	return created(w, "/v2/"+rt.name+"/manifests/"+res.Digest.String(), res.Digest.String())
}

func tooLarge() error {
	return oci.Err(oci.CodeSizeInvalid, "manifest is larger than %d bytes", oci.MaxManifestSize).WithStatus(http.StatusRequestEntityTooLarge)
}

func (s *Server) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := s.store.DeleteManifest(r.Context(), rt.name, rt.arg); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
