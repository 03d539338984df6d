package flatten

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func decodeMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Index members and every descriptor member except digest and size are
// kept; so are manifest members except config and layers, and config
// members except rootfs.diff_ids and history.
func TestFlattenKeepsMetadata(t *testing.T) {
	for _, layout := range []string{"tdfs-image", "sparse-image"} {
		src, mt, body := fixtureImage(t, layout)
		res := mustFlatten(t, src, mt, body, "v1--0.0.1.1")
		if res.Top.MediaType != mt {
			t.Errorf("%s: top media type %s, want %s", layout, res.Top.MediaType, mt)
		}
		oldIdx, newIdx := decodeMap(t, body), decodeMap(t, res.Top.Data)
		oldDescs, newDescs := oldIdx["manifests"].([]any), newIdx["manifests"].([]any)
		delete(oldIdx, "manifests")
		delete(newIdx, "manifests")
		if !reflect.DeepEqual(oldIdx, newIdx) {
			t.Errorf("%s: index members changed: %v -> %v", layout, oldIdx, newIdx)
		}
		if len(oldDescs) != len(newDescs) {
			t.Fatalf("%s: %d entries, want %d", layout, len(newDescs), len(oldDescs))
		}
		for i := range oldDescs {
			od, nd := oldDescs[i].(map[string]any), newDescs[i].(map[string]any)
			if od["digest"] == nd["digest"] {
				t.Errorf("%s entry %d: digest not rewritten", layout, i)
			}
			for _, m := range []map[string]any{od, nd} {
				delete(m, "digest")
				delete(m, "size")
			}
			if !reflect.DeepEqual(od, nd) || nd["platform"] == nil || nd["artifactType"] == nil {
				t.Errorf("%s entry %d: descriptor members changed: %v -> %v", layout, i, od, nd)
			}
		}
		for _, k := range children(t, src, res) {
			checkManifestKept(t, src, body, k)
		}
	}
}

func checkManifestKept(t *testing.T, src Source, srcIndex []byte, k flat) {
	t.Helper()
	var idx ocispec.Index
	if err := json.Unmarshal(srcIndex, &idx); err != nil {
		t.Fatal(err)
	}
	var oldBody []byte
	for _, d := range idx.Manifests {
		if platformString(d.Platform) == platformString(k.platform) {
			_, oldBody, _ = src.Manifest(context.Background(), d.Digest)
		}
	}
	oldM, newM := decodeMap(t, oldBody), decodeMap(t, k.rawManifest)
	oldCfgDesc, newCfgDesc := oldM["config"].(map[string]any), newM["config"].(map[string]any)
	if oldCfgDesc["mediaType"] != newCfgDesc["mediaType"] {
		t.Errorf("config media type %v -> %v", oldCfgDesc["mediaType"], newCfgDesc["mediaType"])
	}
	oldCfgBytes, err := src.SmallBlob(context.Background(), digest.Digest(oldCfgDesc["digest"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]any{oldM, newM} {
		delete(m, "config")
		delete(m, "layers")
	}
	if !reflect.DeepEqual(oldM, newM) {
		t.Errorf("%s: manifest members changed: %v -> %v", platformString(k.platform), oldM, newM)
	}
	oldCfg, newCfg := decodeMap(t, oldCfgBytes), k.config
	oldHist, newHist := oldCfg["history"].([]any), newCfg["history"].([]any)
	added := len(k.layers) - 2
	if len(newHist) != len(oldHist)+added || !reflect.DeepEqual(newHist[:len(oldHist)], oldHist) {
		t.Errorf("history %v, want %v plus %d entries", newHist, oldHist, added)
	}
	for _, m := range []map[string]any{oldCfg, newCfg} {
		delete(m["rootfs"].(map[string]any), "diff_ids")
		delete(m, "history")
	}
	if !reflect.DeepEqual(oldCfg, newCfg) {
		t.Errorf("config members changed: %v -> %v", oldCfg, newCfg)
	}
}

func TestEquivalentSelectionsSameDigest(t *testing.T) {
	groups := []struct {
		layout string
		refs   []string
	}{
		{"tdfs-image", []string{"v1--0.0.1.1", "v1--0.0.1.1--0.0.0.0", "v1--0.0.0.0--0.0.1.1--1.1.1.1", "v1--1.0.1.1--0.0.0.1"}},
		{"tdfs-image", []string{"v1--1.1.1.1--0.0.0.0", "v1--0.0.0.0--1.1.1.1"}},
		{"tdfs-image", []string{"v1--0.0.1.1--1.1.2.2", "v1--1.1.2.2--0.0.1.1", "v1--0.0.0.1--1.0.1.2--2.1.2.2"}},
		{"tdfs-image", []string{"v1--0.0.9.9", "v1--0.0.2.2", "v1--0.0.2147483647.2147483647"}},
		{"tdfs-image", []string{"v1--5.5.9.9", "v1--3.0.3.3", "v1--0.3.9.9"}},
		// Same allotments selected through holes and empty rows.
		{"sparse-image", []string{"v1--0.0.0.0", "v1--0.0.1.1", "v1--0.0.1.1--0.0.0.0", "v1--1.1.1.1--0.0.0.0", "v1--0.0.2.0"}},
		{"sparse-image", []string{"v1--3.0.3.3", "v1--3.3.3.3", "v1--1.3.9.3"}},
		{"sparse-image", []string{"v1--0.0.9.9", "v1--0.0.3.3"}},
	}
	seen := map[digest.Digest]string{}
	for _, g := range groups {
		src, mt, body := fixtureImage(t, g.layout)
		want := mustFlatten(t, src, mt, body, g.refs[0]).Top.Digest
		for _, ref := range g.refs[1:] {
			if got := mustFlatten(t, src, mt, body, ref).Top.Digest; got != want {
				t.Errorf("%s %s: %s, want %s (as %s)", g.layout, ref, got, want, g.refs[0])
			}
		}
		if other, dup := seen[want]; dup {
			t.Errorf("%s %s and %s: same digest %s", g.layout, g.refs[0], other, want)
		}
		seen[want] = g.layout + " " + g.refs[0]
	}
	// All() is the whole field.
	src, mt, body := fixtureImage(t, "tdfs-image")
	res, err := Flatten(context.Background(), src, mt, body, partition.All())
	if err != nil {
		t.Fatal(err)
	}
	if want := mustFlatten(t, src, mt, body, "v1--0.0.9.9").Top.Digest; res.Top.Digest != want {
		t.Errorf("All(): %s, want %s", res.Top.Digest, want)
	}
}

func TestFlattenDeterministic(t *testing.T) {
	src, mt, body := fixtureImage(t, "sparse-image")
	_, sel, _, _ := partition.ParseRef("v1--0.0.9.9")
	first, err := Flatten(context.Background(), src, mt, body, sel)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := Flatten(context.Background(), src, mt, body, sel)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) {
			t.Fatal("second Flatten differs")
		}
	}
	for _, b := range first.Blobs() {
		if bytes.HasSuffix(b.Data, []byte("\n")) || bytes.Contains(b.Data, []byte(": ")) || b.Digest != digest.FromBytes(b.Data) {
			t.Errorf("%s: not canonical: %s", b.Digest, b.Data)
		}
	}
}

func TestFlattenEmptySelection(t *testing.T) {
	src, mt, body := fixtureImage(t, "tdfs-image")
	for _, sel := range []partition.Selection{{}, mustSel(t, "v1--5.5.9.9")} {
		res, err := Flatten(context.Background(), src, mt, body, sel)
		if err != nil {
			t.Fatal(err)
		}
		if res.Top.Digest == digest.FromBytes(body) {
			t.Fatal("index unchanged")
		}
		for _, k := range children(t, src, res) {
			if len(k.layers) != 2 || len(k.diffIDs) != 2 || slices.Contains(k.layerTypes, partition.FieldMediaType) {
				t.Errorf("%s: layers %v diff_ids %v", platformString(k.platform), k.layers, k.diffIDs)
			}
		}
	}
}

func mustSel(t testing.TB, ref string) partition.Selection {
	t.Helper()
	_, sel, ok, err := partition.ParseRef(ref)
	if !ok || err != nil {
		t.Fatalf("ParseRef(%q): %v %v", ref, ok, err)
	}
	return sel
}

// hidingSource hides some blobs of a layout.
type hidingSource struct {
	layoutSource
	hidden map[digest.Digest]bool
}

func (h hidingSource) BlobSize(ctx context.Context, d digest.Digest) (int64, error) {
	if h.hidden[d] {
		return 0, errBlobUnknown
	}
	return h.layoutSource.BlobSize(ctx, d)
}

func TestFlattenMissingAllotment(t *testing.T) {
	ls, mt, body := fixtureImage(t, "tdfs-image")
	d11 := digest.Digest("sha256:f73c8b3cf8aa7fc505c562bfe3291dd26a8efc9f9edc08cd422a6e7ead50d987")
	src := hidingSource{ls, map[digest.Digest]bool{d11: true}}
	_, err := Flatten(context.Background(), src, mt, body, mustSel(t, "v1--0.0.1.1"))
	var ae *AllotmentError
	if !errors.As(err, &ae) || ae.Row != 1 || ae.Col != 1 || ae.Digest != d11 || !errors.Is(err, errBlobUnknown) {
		t.Fatalf("err = %v, want AllotmentError for (1,1)", err)
	}
	if !strings.Contains(err.Error(), "(1,1) "+d11.String()) {
		t.Errorf("message %q does not name the cell", err)
	}
	// Selections avoiding (1,1) still work.
	if _, err := Flatten(context.Background(), src, mt, body, mustSel(t, "v1--0.0.0.2--2.0.2.2")); err != nil {
		t.Errorf("selection without (1,1): %v", err)
	}
}

// corruptSource returns the wrong bytes for one digest.
type corruptSource struct {
	layoutSource
	bad digest.Digest
}

func (c corruptSource) SmallBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	b, err := c.layoutSource.SmallBlob(ctx, d)
	if d == c.bad {
		b = append(b, ' ')
	}
	return b, err
}

func (c corruptSource) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	mt, b, err := c.layoutSource.Manifest(ctx, d)
	if d == c.bad {
		b = append(b, ' ')
	}
	return mt, b, err
}

func TestFlattenDigestMismatch(t *testing.T) {
	ls, mt, body := fixtureImage(t, "tdfs-image")
	for _, bad := range []digest.Digest{
		"sha256:fde50604a40da4df7d035b6c8d4faba36887f295fcecf62ca7f1f63b4810327e", // field
		"sha256:b21652267dfd353565890847bb4f7abec810509bdc04419df7a6ec4ed960bf44", // config
		"sha256:dd7e47258c5628d12db33e6cacad597b4dd0356dfad00917502b12e020f75613", // child
	} {
		_, err := Flatten(context.Background(), corruptSource{ls, bad}, mt, body, partition.All())
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), bad.String()) {
			t.Errorf("corrupt %s: err = %v", bad, err)
		}
	}
}

func TestFlattenNotTDFS(t *testing.T) {
	src, _, _ := fixtureImage(t, "tdfs-image")
	m := newMemSource()
	cfg := m.put([]byte(`{"rootfs":{"type":"layers","diff_ids":[]}}`))
	plain := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfg.String() + `","size":42},"layers":[]}`)
	pd := m.put(plain)
	index := []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + pd.String() + `","size":` + itoa(len(plain)) + `}]}`)
	tests := []struct {
		name string
		src  Source
		mt   string
		body []byte
	}{
		{"plain manifest", m, ocispec.MediaTypeImageManifest, plain},
		{"plain manifest sniffed", m, "", plain},
		{"index of plain manifests", m, ocispec.MediaTypeImageIndex, index},
		{"config media type", src, ocispec.MediaTypeImageConfig, plain},
		{"docker manifest", src, "application/vnd.docker.distribution.manifest.v2+json", plain},
		{"unknown and no mediaType member", m, "", index},
	}
	for _, tt := range tests {
		if _, err := Flatten(context.Background(), tt.src, tt.mt, tt.body, partition.All()); !errors.Is(err, ErrNotTDFS) {
			t.Errorf("%s: err = %v, want ErrNotTDFS", tt.name, err)
		}
	}
}

func TestFlattenMalformed(t *testing.T) {
	m := newMemSource()
	field := m.put([]byte(`{"rows":[]}`))
	badField := m.put([]byte(`{"rows":[{"allotments":[{"digest":"x","diffid":""}]}]}`))
	cfg := m.put([]byte(`{"rootfs":{"type":"layers","diff_ids":[]}}`))
	noRootfs := m.put([]byte(`{"os":"linux"}`))
	badIDs := m.put([]byte(`{"rootfs":{"diff_ids":{}}}`))
	badHist := m.put([]byte(`{"rootfs":{},"history":"x"}`))
	fl := func(d digest.Digest) string {
		return `{"mediaType":"` + partition.FieldMediaType + `","digest":"` + d.String() + `","size":1}`
	}
	man := func(cfgD digest.Digest, layers ...string) []byte {
		return []byte(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"` + cfgD.String() + `","size":1},"layers":[` + strings.Join(layers, ",") + `]}`)
	}
	tests := []struct {
		name string
		body []byte
		msg  string
	}{
		{"not json", []byte(`{`), "manifest"},
		{"trailing", append(man(cfg, fl(field)), '{'), "after"},
		{"two fields", man(cfg, fl(field), fl(field)), "more than one"},
		{"layers object", []byte(`{"layers":{}}`), "not an array"},
		{"layer string", []byte(`{"layers":["x"]}`), "layer 0"},
		{"bad field digest", man(cfg, `{"mediaType":"`+partition.FieldMediaType+`","digest":"sha256:12"}`), "field layer"},
		{"missing field blob", man(cfg, fl(digest.FromString("nope"))), "field"},
		{"bad field", man(cfg, fl(badField)), "invalid 2DFS field"},
		{"no config", []byte(`{"layers":[` + fl(field) + `]}`), "no config"},
		{"no rootfs", man(noRootfs, fl(field)), "rootfs"},
		{"bad diff_ids", man(badIDs, fl(field)), "diff_ids"},
		{"bad history", man(badHist, fl(field)), "history"},
	}
	for _, tt := range tests {
		_, err := Flatten(context.Background(), m, ocispec.MediaTypeImageManifest, tt.body, partition.All())
		if err == nil || errors.Is(err, ErrNotTDFS) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want one mentioning %q", tt.name, err, tt.msg)
		}
	}
}
