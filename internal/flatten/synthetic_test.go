package flatten

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func itoa(i int) string { return strconv.Itoa(i) }

func hexOf(s string) string { return digest.FromString(s).Encoded() }

// A hand-made image exercising what the fixtures do not: unknown members
// everywhere, odd numbers and strings, no history, embedded data, a kept
// plain child, a nested index and a duplicated entry.
func TestFlattenSyntheticImage(t *testing.T) {
	m := newMemSource()
	a00, a01 := hexOf("a00"), hexOf("a01")
	m.sizes[digest.NewDigestFromEncoded(digest.SHA256, a00)] = 1000
	m.sizes[digest.NewDigestFromEncoded(digest.SHA256, a01)] = 2001
	field := m.put([]byte(`{"rows":[{"allotments":[{"row":0,"col":0,"digest":"` + a00 + `","diffid":"` + hexOf("u00") +
		`"},{"row":0,"col":1,"digest":"` + a01 + `","diffid":"` + hexOf("u01") + `"}]}]}`))
	const cfgBody = `{"rootfs":{"type":"layers","diff_ids":["sha256:` + "1111111111111111111111111111111111111111111111111111111111111111" + `"]},` +
		`"x-vendor":{"z":1.50,"a":[1e3,-0,0.1E-2],"html":"<a&b>","nl":"a\nb\u0001\u2028","é":true,"n":null}}`
	cfg := m.put([]byte(cfgBody))
	const cfgType = "application/vnd.example.config+json"
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","x-man":[2.0],` +
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hexOf("subj") + `","size":7},` +
		`"annotations":{"k":"v"},` +
		`"config":{"mediaType":"` + cfgType + `","digest":"` + cfg.String() + `","size":` + itoa(len(cfgBody)) + `,"data":"e30=","annotations":{"c":"1"}},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:` + hexOf("base") + `","size":5,"annotations":{"l":"1"}},` +
		`{"mediaType":"` + partition.FieldMediaType + `","digest":"` + field.String() + `","size":1}]}`)
	md := m.put(man)
	plain := []byte(`{"schemaVersion":2,"layers":[]}`)
	pd := m.put(plain)
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","x-idx":{"b":2,"a":1},` +
		`"manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + md.String() + `","size":` + itoa(len(man)) + `,"platform":{"os":"linux","architecture":"riscv64","variant":"x"},"data":"AAAA","x-desc":1},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + pd.String() + `","size":` + itoa(len(plain)) + `,"platform":{"os":"linux","architecture":"s390x"}},` +
		`{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:` + hexOf("nested") + `","size":3},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + md.String() + `","size":` + itoa(len(man)) + `,"annotations":{"dup":"yes"}}]}`)

	res, err := Flatten(context.Background(), m, ocispec.MediaTypeImageIndex, index, partition.All())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Manifests) != 1 || len(res.Configs) != 1 {
		t.Fatalf("%d manifests, %d configs generated, want 1 and 1 (duplicate entry, plain child kept)", len(res.Manifests), len(res.Configs))
	}
	newMan, newCfg := res.Manifests[0], res.Configs[0]
	if newCfg.MediaType != cfgType || newMan.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("media types %s, %s", newMan.MediaType, newCfg.MediaType)
	}

	wantIndex := `{"manifests":[` +
		`{"digest":"` + newMan.Digest.String() + `","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"riscv64","os":"linux","variant":"x"},"size":` + itoa(len(newMan.Data)) + `,"x-desc":1},` +
		`{"digest":"` + pd.String() + `","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"s390x","os":"linux"},"size":` + itoa(len(plain)) + `},` +
		`{"digest":"sha256:` + hexOf("nested") + `","mediaType":"application/vnd.oci.image.index.v1+json","size":3},` +
		`{"annotations":{"dup":"yes"},"digest":"` + newMan.Digest.String() + `","mediaType":"application/vnd.oci.image.manifest.v1+json","size":` + itoa(len(newMan.Data)) + `}],` +
		`"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2,"x-idx":{"a":1,"b":2}}`
	if string(res.Top.Data) != wantIndex {
		t.Errorf("index:\n got %s\nwant %s", res.Top.Data, wantIndex)
	}

	wantMan := `{"annotations":{"k":"v"},` +
		`"config":{"annotations":{"c":"1"},"digest":"` + newCfg.Digest.String() + `","mediaType":"` + cfgType + `","size":` + itoa(len(newCfg.Data)) + `},` +
		`"layers":[{"annotations":{"l":"1"},"digest":"sha256:` + hexOf("base") + `","mediaType":"application/vnd.oci.image.layer.v1.tar","size":5},` +
		`{"digest":"sha256:` + a00 + `","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":1000},` +
		`{"digest":"sha256:` + a01 + `","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":2001}],` +
		`"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2,` +
		`"subject":{"digest":"sha256:` + hexOf("subj") + `","mediaType":"application/vnd.oci.image.manifest.v1+json","size":7},"x-man":[2.0]}`
	if string(newMan.Data) != wantMan {
		t.Errorf("manifest:\n got %s\nwant %s", newMan.Data, wantMan)
	}

	// No history in the source: none is added. Unknown members survive
	// with numbers and strings as written.
	wantCfg := `{"rootfs":{"diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111","sha256:` + hexOf("u00") + `","sha256:` + hexOf("u01") + `"],"type":"layers"},` +
		`"x-vendor":{"a":[1e3,-0,0.1E-2],"html":"<a&b>","n":null,"nl":"a\nb\u0001` + "\u2028" + `","z":1.50,"é":true}}`
	if string(newCfg.Data) != wantCfg {
		t.Errorf("config:\n got %s\nwant %s", newCfg.Data, wantCfg)
	}
	if !json.Valid(newCfg.Data) || !strings.Contains(string(newCfg.Data), "<a&b>") {
		t.Error("config not valid JSON or HTML-escaped")
	}
}
