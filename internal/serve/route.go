package serve

import (
	"strings"

	"github.com/dfsreg/dfsreg/internal/auth"
	"github.com/dfsreg/dfsreg/internal/oci"
)

type endpoint int

const (
	epBase endpoint = iota
	epCatalog
	epTags
	epManifest
	epBlob
	epUploads
	epUpload
	epReferrers
)

func (e endpoint) String() string {
	return [...]string{"/v2/", "the catalog", "tags", "manifests", "blobs", "uploads", "an upload", "referrers"}[e]
}

// route is a parsed /v2/ path: the endpoint, the repository name and the
// last path element (reference, digest or upload id).
type route struct {
	kind endpoint
	name string
	arg  string
	// grant is what the caller may do (nil: no authentication configured).
	grant auth.Grant
}

// maxPath bounds what is parsed at all: a name of 255 and a reference.
const maxPath = 1024

// parseRoute splits a /v2/ path. Repository names contain slashes, so the
// endpoint is found from the end of the path; the name is then checked
// against the spec's grammar, which admits no "." or ".." element.
func parseRoute(path string) (route, error) {
	if len(path) > maxPath {
		return route{}, oci.Err(oci.CodeNameInvalid, "path is longer than %d bytes", maxPath)
	}
	rest := strings.TrimPrefix(path, "/v2/")
	switch rest {
	case "":
		return route{kind: epBase}, nil
	case "_catalog":
		return route{kind: epCatalog}, nil
	}
	var rt route
	switch {
	case strings.HasSuffix(rest, "/blobs/uploads/") || strings.HasSuffix(rest, "/blobs/uploads"):
		rt = route{kind: epUploads, name: rest[:strings.LastIndex(rest, "/blobs/uploads")]}
	case strings.HasSuffix(rest, "/tags/list"):
		rt = route{kind: epTags, name: strings.TrimSuffix(rest, "/tags/list")}
	default:
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			return route{}, notFound(path)
		}
		head, last := rest[:i], rest[i+1:]
		j := strings.LastIndexByte(head, '/')
		if j < 0 {
			return route{}, notFound(path)
		}
		name, verb := head[:j], head[j+1:]
		switch verb {
		case "manifests":
			rt = route{kind: epManifest, name: name, arg: last}
		case "blobs":
			rt = route{kind: epBlob, name: name, arg: last}
		case "referrers":
			rt = route{kind: epReferrers, name: name, arg: last}
		case "uploads":
			if !strings.HasSuffix(name, "/blobs") {
				return route{}, notFound(path)
			}
			rt = route{kind: epUpload, name: strings.TrimSuffix(name, "/blobs"), arg: last}
		default:
			return route{}, notFound(path)
		}
		if last == "" {
			return route{}, notFound(path)
		}
	}
	if !oci.ValidName(rt.name) {
		return route{}, oci.Err(oci.CodeNameInvalid, "invalid repository name %q", truncate(rt.name, 300))
	}
	return rt, nil
}

func notFound(path string) error {
	return oci.Err(oci.CodeNameUnknown, "no endpoint at %q", truncate(path, 200)).WithStatus(404)
}
