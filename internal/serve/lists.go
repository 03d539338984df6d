package serve

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// maxPage bounds one page of tags or repositories.
const maxPage = 10000

// pageArgs reads n and last; n absent means everything (up to maxPage).
func pageArgs(q url.Values) (n int, last string, err error) {
	n = maxPage
	if v := q.Get("n"); v != "" {
		n, err = strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, "", oci.Err(oci.CodeUnsupported, "n must be a non-negative integer, not %q", truncate(v, 40)).WithStatus(http.StatusBadRequest)
		}
		n = min(n, maxPage)
	}
	return n, q.Get("last"), nil
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// nextLink sets the RFC 5988 Link header for the next page.
func nextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func (s *Server) tags(w http.ResponseWriter, r *http.Request, rt route) error {
	n, last, err := pageArgs(r.URL.Query())
	if err != nil {
		return err
	}
	tags, more, err := s.store.Tags(r.Context(), rt.name, last, n)
	if err != nil {
		return err
	}
	if more && len(tags) > 0 { // n=0: an empty list and no Link (spec)
		nextLink(w, r.URL.Path, n, tags[len(tags)-1])
	}
	return writeJSON(w, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request, rt route) error {
	n, last, err := pageArgs(r.URL.Query())
	if err != nil {
		return err
	}
	repos, more, err := s.visibleRepos(r, rt.grant, last, n)
	if err != nil {
		return err
	}
	if more && len(repos) > 0 {
		nextLink(w, r.URL.Path, n, repos[len(repos)-1])
	}
	return writeJSON(w, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

func (s *Server) referrers(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := oci.ParseDigest(rt.arg)
	if err != nil {
		return err
	}
	at := r.URL.Query().Get("artifactType")
	descs, err := s.store.Referrers(r.Context(), rt.name, d, at)
	if err != nil {
		return err
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, v1.MediaTypeImageIndex, v1.Index{
		Versioned: specsVersioned,
		MediaType: v1.MediaTypeImageIndex,
		Manifests: descs,
	})
}
