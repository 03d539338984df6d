package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/dfsreg/dfsreg/internal/remote"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// bigField stores in repo big/field:v1 a one-manifest 2DFS image whose
// field is n x n allotments (tiny distinct blobs).
func bigField(b *testing.B, st *store.Store, n int) {
	ctx := context.Background()
	put := func(data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		if _, err := st.PutBlob(ctx, "big/field", d, int64(len(data)), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
	}
	type cell struct {
		Row    int    `json:"row"`
		Col    int    `json:"col"`
		Digest string `json:"digest"`
		DiffID string `json:"diffid"`
	}
	type row struct {
		Allotments []cell `json:"allotments"`
	}
	var rows []row
	for r := range n {
		var cs []cell
		for c := range n {
			d := put([]byte(fmt.Sprintf("allotment %d %d", r, c)))
			cs = append(cs, cell{r, c, d.Digest.Encoded(), d.Digest.Encoded()})
		}
		rows = append(rows, row{cs})
	}
	fj, _ := json.Marshal(map[string]any{"rows": rows})
	field := put(fj)
	field.MediaType = partition.FieldMediaType
	cfg := put([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{field}}
	m.SchemaVersion = 2
	body, _ := json.Marshal(m)
	if _, err := st.PutManifest(ctx, "big/field", "v1", ocispec.MediaTypeImageManifest, body); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLargeField: inspect of a 32 x 32 field (1024 allotments) with a
// selection, from the store (one size query) and through the registry
// (one HEAD per allotment, 8 at a time), rendered as text.
func BenchmarkLargeField(b *testing.B) {
	ctx := context.Background()
	root := b.TempDir()
	w, err := store.Open(ctx, store.Options{Root: root})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	bigField(b, w, 32)
	ro, err := store.Open(ctx, store.Options{Root: root, ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ro.Close()
	srv := httptest.NewServer(serve.New(w, serve.Options{}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	run := func(b *testing.B, src Source) {
		for b.Loop() {
			rep, err := Inspect(ctx, src, "big/field:v1--0.0.15.15", "v1--0.0.15.15")
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Selection.Cells) != 256 {
				b.Fatalf("%d cells selected", len(rep.Selection.Cells))
			}
			if err := Render(io.Discard, rep, RenderOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("store", func(b *testing.B) { run(b, StoreSource(ro, "big/field")) })
	b.Run("registry", func(b *testing.B) {
		r, err := remote.ParseReference(host + "/big/field:v1")
		if err != nil {
			b.Fatal(err)
		}
		run(b, RegistrySource(r, remote.Options{Keychain: noCreds}))
	})
}
