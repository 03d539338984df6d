// Package inspect collects what dfsreg knows about an image - the index and
// its platforms, each manifest, its config and layers, referrers, and for a
// 2DFS image the field drawn as a grid - into a Report, from a registry, a
// store or an OCI image layout (see Source). The Report is the JSON that
// `dfsreg inspect --json` prints; Render draws it for a terminal.
//
// The package returns values and writes only to the io.Writer it is given.
package inspect

import (
	"github.com/opencontainers/go-digest"
)

// Report is everything inspect found about one reference. Its JSON form is
// a stable interface for scripts: members are only ever added.
type Report struct {
	// Reference is the reference as given.
	Reference string `json:"reference"`
	// Source says where the image was read: "registry", "store" or
	// "layout"; Location is the registry host, the store or layout
	// directory; Repository the repository (registry, store).
	Source     string `json:"source"`
	Location   string `json:"location"`
	Repository string `json:"repository,omitempty"`
	// Tag is the tag or digest looked up (for a semantic reference, its
	// base tag).
	Tag string `json:"tag,omitempty"`

	Digest       digest.Digest     `json:"digest"`
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`

	// TDFS is true when at least one manifest carries a 2DFS field.
	TDFS bool `json:"tdfs"`
	// Selection is set for a semantic reference (TAG--r1.c1.r2.c2...).
	Selection *Selection `json:"selection,omitempty"`

	// Manifests are the image's manifests: the index's children in index
	// order, or the image manifest itself.
	Manifests []Manifest `json:"manifests"`
	// Referrers are the manifests whose subject is this image.
	Referrers []Descriptor `json:"referrers"`
}

// Selection is what a semantic reference selects.
type Selection struct {
	// Rects are the rectangles as given ("0.0.1.1"); Key their canonical
	// form (partition.Selection.Key).
	Rects []string `json:"rects"`
	Key   string   `json:"key"`
	// Cells are the selected allotments of the first field, row-major;
	// Size their total size.
	Cells []CellRef `json:"cells"`
	Size  int64     `json:"size"`
	// Digest is the partition dfsreg serves for the reference (computed
	// here with the code serve uses, nothing is stored), MediaType its
	// media type. Empty when it cannot be computed (an allotment missing).
	Digest    digest.Digest `json:"digest,omitempty"`
	MediaType string        `json:"mediaType,omitempty"`
}

// CellRef names a cell of a field.
type CellRef struct {
	Row    int           `json:"row"`
	Col    int           `json:"col"`
	Digest digest.Digest `json:"digest"`
}

// Descriptor is a content descriptor as inspect shows it.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Platform     string            `json:"platform,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Manifest is one manifest of the image.
type Manifest struct {
	// Platform is "os/arch[/variant]" from the index entry, else from the
	// config; "" when unknown.
	Platform     string            `json:"platform,omitempty"`
	Digest       digest.Digest     `json:"digest"`
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Kind is "image" for an image manifest whose layers are listed,
	// otherwise "index" (a nested index) or "other": then only the
	// descriptor is shown.
	Kind   string  `json:"kind"`
	Config *Config `json:"config,omitempty"`
	Layers []Layer `json:"layers,omitempty"`
	// LayersSize is the sum of the layers' sizes (the field layer
	// included).
	LayersSize int64  `json:"layersSize"`
	Field      *Field `json:"field,omitempty"`
	// Referrers are the manifests whose subject is this manifest.
	Referrers []Descriptor `json:"referrers"`
}

// Config summarizes an image config.
type Config struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	// CID is where the blob is in IPFS (a store on the IPFS backend).
	CID string `json:"cid,omitempty"`
	// The rest is read from the config JSON, when it is an image config.
	Platform   string   `json:"platform,omitempty"`
	Created    string   `json:"created,omitempty"`
	Author     string   `json:"author,omitempty"`
	User       string   `json:"user,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	// Labels holds the config's labels.
	Labels  map[string]string `json:"labels,omitempty"`
	DiffIDs int               `json:"diffIds"`
	History int               `json:"history"`
}

// Layer is one layer of a manifest.
type Layer struct {
	MediaType   string            `json:"mediaType"`
	Digest      digest.Digest     `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Field is true for the 2DFS field layer.
	Field bool   `json:"field,omitempty"`
	CID   string `json:"cid,omitempty"`
}

// Field is a 2DFS field: a Rows x Cols grid of cells, some of them holes.
type Field struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	// Rows and Cols bound the grid (Cols is the longest row: rows may be
	// ragged, the missing cells are holes).
	Rows       int `json:"rows"`
	Cols       int `json:"cols"`
	Allotments int `json:"allotments"`
	// AllotmentsSize is the total size of the allotments present.
	AllotmentsSize int64 `json:"allotmentsSize"`
	// Cells are the non-empty cells, row-major.
	Cells []Cell `json:"cells"`
	// Holes are the empty positions of the grid, row-major.
	Holes []Pos `json:"holes"`
	// SameAs is the platform of an earlier manifest with the same field
	// (the text output draws it once).
	SameAs string `json:"sameAs,omitempty"`
}

// Cell is one allotment of a field.
type Cell struct {
	Row    int           `json:"row"`
	Col    int           `json:"col"`
	Digest digest.Digest `json:"digest"`
	DiffID digest.Digest `json:"diffId"`
	// Size is the blob's size; -1 with Missing when the source does not
	// hold the blob.
	Size     int64  `json:"size"`
	Missing  bool   `json:"missing,omitempty"`
	Selected bool   `json:"selected,omitempty"`
	CID      string `json:"cid,omitempty"`
}

// Pos is a position in a field.
type Pos struct {
	Row int `json:"row"`
	Col int `json:"col"`
}
