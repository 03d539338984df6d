package oci

import (
	"encoding/json"
	"mime"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker media types that the OCI spec does not define but every registry
// must accept.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// MaxManifestSize is the largest manifest accepted (the spec's suggested 4 MiB).
const MaxManifestSize = 4 << 20

// Manifest is what the registry needs to know of a pushed manifest or index:
// what it is and what it references.
type Manifest struct {
	MediaType    string
	ArtifactType string
	IsIndex      bool
	Config       *v1.Descriptor
	Layers       []v1.Descriptor
	Manifests    []v1.Descriptor
	Subject      *v1.Descriptor
	Annotations  map[string]string
}

// Blobs lists the blob descriptors the manifest references (config, then
// layers), skipping non-distributable layers that live elsewhere.
func (m *Manifest) Blobs() []v1.Descriptor {
	var out []v1.Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	for _, l := range m.Layers {
		if len(l.URLs) > 0 && (l.MediaType == MediaTypeDockerForeignLayer || l.MediaType == v1.MediaTypeImageLayerNonDistributable || l.MediaType == v1.MediaTypeImageLayerNonDistributableGzip || l.MediaType == v1.MediaTypeImageLayerNonDistributableZstd) { //nolint:staticcheck // deprecated, still pushed
			continue
		}
		out = append(out, l)
	}
	return out
}

// wire is the union of manifest and index fields on the wire.
type wire struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// IsManifestMediaType reports whether mt is a manifest or index media type
// that dfsreg stores.
func IsManifestMediaType(mt string) bool {
	switch mt {
	case v1.MediaTypeImageManifest, v1.MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

// ParseManifest validates a pushed manifest body against its Content-Type and
// returns what it references. Errors are MANIFEST_INVALID.
func ParseManifest(contentType string, body []byte) (*Manifest, error) {
	if ct, _, err := mime.ParseMediaType(contentType); err == nil {
		contentType = ct
	}
	var w wire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, Err(CodeManifestInvalid, "manifest is not valid JSON: %v", err)
	}
	if w.SchemaVersion == nil || *w.SchemaVersion != 2 {
		return nil, Err(CodeManifestInvalid, "manifest schemaVersion must be 2")
	}
	mt := w.MediaType
	switch {
	case mt != "" && contentType != "" && contentType != mt:
		return nil, Err(CodeManifestInvalid, "Content-Type %q does not match the manifest's mediaType %q", contentType, mt)
	case mt == "" && contentType != "":
		mt = contentType
	case mt == "" && w.Manifests != nil:
		mt = v1.MediaTypeImageIndex
	case mt == "":
		mt = v1.MediaTypeImageManifest
	}
	if !IsManifestMediaType(mt) {
		return nil, Err(CodeManifestInvalid, "unsupported manifest media type %q", mt)
	}
	m := &Manifest{MediaType: mt, ArtifactType: w.ArtifactType, Subject: w.Subject, Annotations: w.Annotations}
	switch mt {
	case v1.MediaTypeImageIndex, MediaTypeDockerManifestList:
		m.IsIndex = true
		if w.Config != nil || w.Layers != nil {
			return nil, Err(CodeManifestInvalid, "an index has no config or layers")
		}
		m.Manifests = w.Manifests
	default:
		if w.Config == nil {
			return nil, Err(CodeManifestInvalid, "image manifest has no config")
		}
		if w.Manifests != nil {
			return nil, Err(CodeManifestInvalid, "an image manifest has no manifests list")
		}
		m.Config, m.Layers = w.Config, w.Layers
	}
	all := append(append([]v1.Descriptor{}, m.Layers...), m.Manifests...)
	if m.Config != nil {
		all = append(all, *m.Config)
	}
	if m.Subject != nil {
		all = append(all, *m.Subject)
	}
	for _, d := range all {
		if err := checkDescriptor(d); err != nil {
			return nil, err
		}
	}
	// An artifact's type defaults to its config media type (spec: referrers).
	if m.ArtifactType == "" && m.Config != nil && m.MediaType == v1.MediaTypeImageManifest && m.Config.MediaType != v1.MediaTypeImageConfig {
		m.ArtifactType = m.Config.MediaType
	}
	return m, nil
}

func checkDescriptor(d v1.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return Err(CodeManifestInvalid, "descriptor digest %q: %v", truncate(string(d.Digest), 80), err)
	}
	if d.Digest.Algorithm() != digest.SHA256 {
		return Err(CodeManifestInvalid, "descriptor digest %q: only sha256 is supported", truncate(string(d.Digest), 80))
	}
	if d.Size < 0 {
		return Err(CodeManifestInvalid, "descriptor %s has a negative size", d.Digest)
	}
	if d.MediaType == "" {
		return Err(CodeManifestInvalid, "descriptor %s has no mediaType", d.Digest)
	}
	return nil
}
