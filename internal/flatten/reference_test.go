package flatten

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type referenceRow struct {
	Tag       string
	Image     string
	Status    int
	Platforms map[string]struct {
		Layers      []string
		DiffIDs     []string `json:"diff_ids"`
		LayerLabels []string `json:"layer_labels"`
	}
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Every semantic-tags.json row that dfsreg answers with a partition must
// give the reference's layers and diff_ids, de-duplicated, on each
// platform, with the platform kept on the index entry.
func TestFlattenMatchesReference(t *testing.T) {
	dir := fixtureDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "semantic-tags.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []referenceRow
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	byTag := map[string]referenceRow{}
	for _, r := range rows {
		byTag[r.Image+"|"+r.Tag] = r
	}
	layouts := map[string]string{"dense": "tdfs-image", "sparse": "sparse-image"}
	const amd64Child = "b21f7fb56cf7cf8e6a35e764b5cead2deead1833f0b500854a992b38f78d22f6"
	compared := 0
	for _, row := range rows {
		base, sel, ok, err := partition.ParseRef(row.Tag)
		if !ok || err != nil {
			continue
		}
		image := row.Image
		if image == "dense-copy" && (base == "rel-2" || base == "b--rel-2") {
			image, base = "dense", "v1"
		}
		layout, known := layouts[image]
		if !known || (base != "v1" && base != amd64Child) {
			continue // unknown base tag: 404 before any flattening
		}
		want := row
		if want.Status != 200 || slices.Contains(want.Platforms["linux/amd64"].LayerLabels, "Fd") {
			want, known = byTag[image+"|v1"+sel.String()]
			if !known || want.Status != 200 {
				t.Fatalf("%s %s: no reference partition for v1%s", row.Image, row.Tag, sel)
			}
		}

		src, mt, body := fixtureImage(t, layout)
		if base == amd64Child {
			mt, body, err = src.Manifest(context.Background(), digest.NewDigestFromEncoded(digest.SHA256, amd64Child))
			if err != nil {
				t.Fatal(err)
			}
		}
		res, err := Flatten(context.Background(), src, mt, body, sel)
		if err != nil {
			t.Fatalf("%s %s: %v", row.Image, row.Tag, err)
		}
		kids := children(t, src, res)
		if base == amd64Child {
			if len(kids) != 1 || res.Top.MediaType != ocispec.MediaTypeImageManifest {
				t.Fatalf("%s: want a single manifest", row.Tag)
			}
			kids[0].platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
		} else if len(kids) != len(want.Platforms) {
			t.Fatalf("%s %s: %d children, want %d", row.Image, row.Tag, len(kids), len(want.Platforms))
		}
		for _, k := range kids {
			p := platformString(k.platform)
			wp, found := want.Platforms[p]
			if !found {
				t.Fatalf("%s %s: child with platform %q", row.Image, row.Tag, p)
			}
			if got, w := k.layers, dedupe(wp.Layers); !slices.Equal(got, w) {
				t.Errorf("%s %s %s layers:\n got %v\nwant %v", row.Image, row.Tag, p, got, w)
			}
			if got, w := k.diffIDs, dedupe(wp.DiffIDs); !slices.Equal(got, w) {
				t.Errorf("%s %s %s diff_ids:\n got %v\nwant %v", row.Image, row.Tag, p, got, w)
			}
			for i, l := range k.manifest.Layers {
				size, err := src.BlobSize(context.Background(), l.Digest)
				if err != nil || size != l.Size || l.MediaType != ocispec.MediaTypeImageLayerGzip {
					t.Errorf("%s %s layer %d: %s size %d (stored %d, %v)", row.Tag, p, i, l.MediaType, l.Size, size, err)
				}
			}
			if h := k.config["history"].([]any); len(h) != len(k.layers) {
				t.Errorf("%s %s: %d history entries for %d layers", row.Tag, p, len(h), len(k.layers))
			}
		}
		compared++
	}
	// Rows 2-9, 12 and 13 of each image, and S1, S2, S3.
	if compared != 23 {
		t.Fatalf("compared %d rows, want 23", compared)
	}
}
