package flatten

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Flatten must never panic, and whatever it generates must be valid,
// content-addressed JSON.
func FuzzFlatten(f *testing.F) {
	src, index := syntheticImage(f, 3)
	var man []byte
	for _, b := range src.blobs {
		if _, ok, _ := FieldDescriptor(b); ok {
			man = b
		}
	}
	f.Add(index, true, uint8(0))
	f.Add(man, false, uint8(1))
	f.Add([]byte(`{"layers":[{"mediaType":"`+partition.FieldMediaType+`","digest":"sha256:`+digest.FromString("x").Encoded()+`"}]}`), false, uint8(2))
	sels := []partition.Selection{partition.All(), {}, mustSel(f, "v1--1.1.1.1--0.0.0.0")}
	f.Fuzz(func(t *testing.T, body []byte, isIndex bool, s uint8) {
		mt := ocispec.MediaTypeImageManifest
		if isIndex {
			mt = ocispec.MediaTypeImageIndex
		}
		res, err := Flatten(context.Background(), src, mt, body, sels[int(s)%len(sels)])
		if err != nil {
			return
		}
		for _, b := range res.Blobs() {
			if b.Digest != digest.FromBytes(b.Data) || !json.Valid(b.Data) {
				t.Fatalf("bad blob %s: %q", b.Digest, b.Data)
			}
		}
	})
}
