package serve

import (
	"net/http"

	"github.com/dfsreg/dfsreg/internal/auth"
)

// Authorizer authenticates requests and checks what they need.
type Authorizer interface {
	// Authorize returns the caller's grant when r may do every access in
	// need (none: authentication only, as for /v2/), or the error to answer
	// (401 with a challenge, 403, 429).
	Authorize(r *http.Request, need ...auth.Access) (auth.Grant, error)
}

// authorize checks what the request on rt needs and records the caller's
// grant in rt. GET/HEAD pull; PUT push (and pull, as the token spec pairs
// them); DELETE delete; upload sessions are part of a push, whatever the
// method (their ids are capabilities of the pusher).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rt *route) error {
	if s.auth == nil {
		return nil
	}
	var need []auth.Access
	switch rt.kind {
	case epBase:
	case epCatalog:
		need = []auth.Access{auth.Catalog}
	case epUploads, epUpload:
		need = []auth.Access{auth.Repository(rt.name, auth.Pull, auth.Push)}
	default:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			need = []auth.Access{auth.Repository(rt.name, auth.Pull)}
		case http.MethodDelete:
			need = []auth.Access{auth.Repository(rt.name, auth.Delete)}
		default:
			need = []auth.Access{auth.Repository(rt.name, auth.Pull, auth.Push)}
		}
	}
	g, err := s.auth.Authorize(r, need...)
	if err != nil {
		return err
	}
	rt.grant = g
	noteUser(w, g.Subject())
	return nil
}

// noteUser tells the request log (WithRequestLog, wherever it is in the
// chain of writers) who the caller is: every recording writer in the chain
// learns it (the metrics observer keeps one too).
func noteUser(w http.ResponseWriter, user string) {
	for user != "" {
		if n, ok := w.(interface{ setUser(string) }); ok {
			n.setUser(user)
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// may reports whether the caller may do a (always, without authentication).
func (rt route) may(a auth.Access) bool { return rt.grant == nil || rt.grant.Allows(a) }

// visibleRepos is a page of the catalog, of the repositories the caller may
// see: after last, at most n, and whether more follow.
func (s *Server) visibleRepos(r *http.Request, g auth.Grant, last string, n int) ([]string, bool, error) {
	if g == nil {
		return s.store.Catalog(r.Context(), last, n)
	}
	var repos []string
	for {
		page, more, err := s.store.Catalog(r.Context(), last, maxPage)
		if err != nil {
			return nil, false, err
		}
		for _, name := range page {
			if !g.Lists(name) {
				continue
			}
			if len(repos) == n {
				return repos, true, nil
			}
			repos = append(repos, name)
		}
		if !more || len(page) == 0 {
			return repos, false, nil
		}
		last = page[len(page)-1]
	}
}
