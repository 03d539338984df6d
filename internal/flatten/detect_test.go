package flatten

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestFieldDescriptor(t *testing.T) {
	const fieldDigest = "sha256:fde50604a40da4df7d035b6c8d4faba36887f295fcecf62ca7f1f63b4810327e"
	src, _, _ := fixtureImage(t, "tdfs-image")
	_, amd64, err := src.Manifest(context.Background(), "sha256:b21f7fb56cf7cf8e6a35e764b5cead2deead1833f0b500854a992b38f78d22f6")
	if err != nil {
		t.Fatal(err)
	}
	field := `{"mediaType":"` + partition.FieldMediaType + `","digest":"` + fieldDigest + `","size":1676}`
	tests := []struct {
		name    string
		body    string
		ok      bool
		wantErr string
	}{
		{"fixture", string(amd64), true, ""},
		{"field not last", `{"layers":[` + field + `,{"mediaType":"x","digest":"sha256:` + strings.Repeat("0", 64) + `","size":1}]}`, true, ""},
		{"plain", `{"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + strings.Repeat("0", 64) + `","size":1}]}`, false, ""},
		{"index", `{"manifests":[]}`, false, ""},
		{"case differs", `{"layers":[{"MediaType":"` + partition.FieldMediaType + `","digest":"` + fieldDigest + `"}]}`, false, ""},
		{"two fields", `{"layers":[` + field + `,` + field + `]}`, false, "more than one"},
		{"bad digest", `{"layers":[{"mediaType":"` + partition.FieldMediaType + `","digest":"sha256:abc"}]}`, false, "digest"},
		{"bad size", `{"layers":[{"mediaType":"` + partition.FieldMediaType + `","digest":"` + fieldDigest + `","size":"1"}]}`, false, "size"},
		{"not json", `{`, false, "manifest"},
		{"array", `[]`, false, "manifest"},
	}
	for _, tt := range tests {
		desc, ok, err := FieldDescriptor([]byte(tt.body))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || ok != tt.ok {
			t.Errorf("%s: ok=%v err=%v, want ok=%v", tt.name, ok, err, tt.ok)
			continue
		}
		if ok && (desc.Digest != fieldDigest || desc.MediaType != partition.FieldMediaType) {
			t.Errorf("%s: descriptor %+v", tt.name, desc)
		}
		if ok && tt.name == "fixture" && desc.Size != 1676 {
			t.Errorf("fixture field size %d", desc.Size)
		}
	}
}

func TestFieldAllotments(t *testing.T) {
	tests := []struct {
		layout, manifest string
		want             []string // digests, row-major
	}{
		{"tdfs-image", "sha256:dd7e47258c5628d12db33e6cacad597b4dd0356dfad00917502b12e020f75613", []string{
			"59f076d53c4b90b3858296945661b0944f1be6230de05a751f78182e476b0601", "3cff885b0a9a34ac7cdf1bb48648f0b55e4a5c5631b81b0c2d8f59cbe9cca34c",
			"e9b7f15aef1548a606593c87080eac7df50a77c8f2ed6d4bf04a53fa6eeb133a", "eb1cf885661b07b539afec5613ab10aa44ec8d08a181fd3d85c7943489e62788",
			"f73c8b3cf8aa7fc505c562bfe3291dd26a8efc9f9edc08cd422a6e7ead50d987", "8624afdae1e3a3a88f2f421f55213f62db88d0edcf5e576ee222025d4788fea4",
			"58bb81f57fe389810b079c6bc54ef8d5dcf97a213c467c485dd6b728f7fb8284", "4f520c927457a092e32f454291103555dd5ca1714ef9ab5341772ed47367beb0",
			"0d257d3f7ea0ab8da39e11c4ba2ce90f067722390bca6b6caf10abfb93051cae"}},
		{"sparse-image", "sha256:8b48275f34e921327466e518b4784cd3881656194e1e0c173524efa7750247d2", []string{
			"15c259ee406c14549cfc53259130b389b8775ddea41bbf6615ee4e640f984a93", "ce6d497dcc543ebac605268459e663ed8452b01d13f4c90fa55a7648ea6d1f52",
			"eddcc97e896092ad957a4583f708531f4ec614342b82c7d7a46b3104ab07016e", "9fd0ce145cb03f4e22c6237cc9fea5c62427a0085693931dec8633919c294d86"}},
	}
	for _, tt := range tests {
		src, _, _ := fixtureImage(t, tt.layout)
		_, body, err := src.Manifest(context.Background(), digest.Digest(tt.manifest))
		if err != nil {
			t.Fatal(err)
		}
		allots, ok, err := FieldAllotments(context.Background(), src, body)
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v err=%v", tt.layout, ok, err)
		}
		var got []string
		for _, a := range allots {
			got = append(got, a.Digest.Encoded())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.layout, got, tt.want)
		}
	}
	// No field: ok is false, and nothing is read.
	if a, ok, err := FieldAllotments(context.Background(), nil, []byte(`{"layers":[]}`)); ok || err != nil || a != nil {
		t.Errorf("plain manifest: %v %v %v", a, ok, err)
	}
}

func TestIsTDFS(t *testing.T) {
	src, mt, body := fixtureImage(t, "sparse-image")
	_, child, _ := src.Manifest(context.Background(), "sha256:bb5e36f92cbc98350abb2e09ee7dcfe07471066a8fedb3d45e4198c4642b5b58")
	res := mustFlatten(t, src, mt, body, "v1--0.0.0.0")
	flatSrc := newMemSource()
	for _, b := range res.Blobs() {
		flatSrc.put(b.Data)
	}
	tests := []struct {
		name string
		src  Source
		mt   string
		body []byte
		want bool
	}{
		{"2dfs index", src, mt, body, true},
		{"2dfs index, sniffed", src, "", body, true},
		{"2dfs manifest", src, ocispec.MediaTypeImageManifest, child, true},
		{"flattened index", flatSrc, mt, res.Top.Data, false},
		{"flattened manifest", flatSrc, ocispec.MediaTypeImageManifest, res.Manifests[0].Data, false},
		{"config", src, ocispec.MediaTypeImageConfig, child, false},
	}
	for _, tt := range tests {
		got, err := IsTDFS(context.Background(), tt.src, tt.mt, tt.body)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v %v, want %v", tt.name, got, err, tt.want)
		}
	}
}
