package ocilayout

import (
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Entries returns the descriptors index.json lists, in order.
func (l *Layout) Entries() []ocispec.Descriptor { return slices.Clone(l.index.Manifests) }
