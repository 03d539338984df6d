package flatten

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// syntheticImage builds an n x n dense field (n*n allotments) under a
// two-platform index, the shape tdfs produces.
func syntheticImage(tb testing.TB, n int) (*memSource, []byte) {
	tb.Helper()
	m := newMemSource()
	var field strings.Builder
	field.WriteString(`{"rows":[`)
	for r := range n {
		if r > 0 {
			field.WriteByte(',')
		}
		field.WriteString(`{"allotments":[`)
		for c := range n {
			if c > 0 {
				field.WriteByte(',')
			}
			blob := digest.FromString(fmt.Sprintf("blob %d %d", r, c))
			m.sizes[blob] = int64(1000 + r*n + c)
			fmt.Fprintf(&field, `{"row":%d,"col":%d,"digest":"%s","diffid":"%s"}`, r, c, blob.Encoded(), digest.FromString(fmt.Sprintf("tar %d %d", r, c)).Encoded())
		}
		fmt.Fprintf(&field, `],"allotments_size":%d}`, n)
	}
	fmt.Fprintf(&field, `],"rows_size":%d,"owner":""}`, n)
	fieldBody := []byte(field.String())
	fd := m.put(fieldBody)

	var entries []string
	for _, arch := range []string{"amd64", "arm64"} {
		cfg := []byte(`{"architecture":"` + arch + `","os":"linux","created":"0001-01-01T00:00:00Z","config":{"Cmd":["/bin/sh"]},` +
			`"rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("1", 64) + `"]},"history":[{"created":"0001-01-01T00:00:00Z"}]}`)
		cd := m.put(cfg)
		man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},`+
			`"layers":[{"mediaType":%q,"digest":"sha256:%s","size":10},{"mediaType":%q,"digest":%q,"size":%d}]}`,
			ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cd, len(cfg),
			ocispec.MediaTypeImageLayerGzip, strings.Repeat("2", 64), partition.FieldMediaType, fd, len(fieldBody)))
		md := m.put(man)
		entries = append(entries, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":%q,"os":"linux"}}`,
			ocispec.MediaTypeImageManifest, md, len(man), arch))
	}
	index := []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[` + strings.Join(entries, ",") +
		`],"annotations":{"2dfs.image.name":"example/bench:v1"}}`)
	return m, index
}

func TestSyntheticImage(t *testing.T) {
	src, index := syntheticImage(t, 64)
	res := mustFlatten(t, src, ocispec.MediaTypeImageIndex, index, "v1--0.0.63.63")
	for _, k := range children(t, src, res) {
		if len(k.layers) != 1+64*64 || len(k.diffIDs) != 1+64*64 || len(k.config["history"].([]any)) != 1+64*64 {
			t.Fatalf("%s: %d layers, %d diff_ids", platformString(k.platform), len(k.layers), len(k.diffIDs))
		}
	}
}

// BenchmarkFlattenCold measures one uncached partition request on a 64x64
// field with two platforms: parse the reference, read and parse the field,
// select, and generate two configs, two manifests and the index.
func BenchmarkFlattenCold(b *testing.B) {
	src, index := syntheticImage(b, 64)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, sel, ok, err := partition.ParseRef("v1--0.0.63.63")
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
		if _, err := Flatten(ctx, src, ocispec.MediaTypeImageIndex, index, sel); err != nil {
			b.Fatal(err)
		}
	}
}
