package flatten

import (
	"context"
	"testing"

	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/opencontainers/go-digest"
)

// Digests of generated objects are API (spec §4): these must never change.
// Each child is "manifest config" for linux/amd64, then linux/arm64.
var goldens = []struct {
	layout, ref string
	top         string
	amd64       [2]string
	arm64       [2]string
}{
	{"tdfs-image", "v1--0.0.0.0", "sha256:b9b0c1d9d6e36114ea22969ee006c1b276b52ba80fea87816079fe998fa2f5d9",
		[2]string{"sha256:dc5fdde63f3a49096b96dbec14bb10f706a471e54e6cc88e0d2083129f2765cc", "sha256:7354409e0f7dc4134df60c44c8f2bf3d4d319069fab9c315de0c285b127f4a08"},
		[2]string{"sha256:eb4a6da2254ff8f56ee8b363d55f7c4b30664ff99883722db6a3b4c10cbec392", "sha256:0f0574f4937802448e3fdc4eb05bc444b80dccdde73fc8e9fc41fedb1894b5c8"}},
	{"tdfs-image", "v1--0.0.1.1--1.1.2.2", "sha256:2f3dcf9673e42b59d7e2e34cd042246c7daf4fd2c23d51d240ff65d7f106ff64",
		[2]string{"sha256:3109eb27e8cd2cf2bc564fdc2769e170c55467b151fb1cdd2f0e9e2fe392c567", "sha256:f2305f89fd1f4812ad22b58dabcb3dbf00d1fb64bdf832dd2d0f004cc1b9232c"},
		[2]string{"sha256:61cd39175303b162462f94c9ce33cf8e26dee191ad5f5445a8418470b9909a20", "sha256:904c11b1464b6e2249e07cefbf39ff3489c9531416522831caebdb3e866dc2e4"}},
	{"tdfs-image", "v1--0.0.9.9", "sha256:199e4a7742bc00629361b461772d67afc51e6596510e9c8efece0fcf0a3f0f0c",
		[2]string{"sha256:676ddbd6e6e9e5df489202cf9402c6c45b5f74718958289f97cbc1da01c0445c", "sha256:4b9a09ffed592b5709e7163a024e3260d01b291d37bd10013d0a25803b11c400"},
		[2]string{"sha256:2908e8e3da1df1caefc3dc8dd8c362840fe7b358fdae4173c0cc3c36484d313f", "sha256:ed656e5911c7c09d0bb48ad8a0bdb63cb6da6934a0f9869f7ef423ced5957e75"}},
	{"tdfs-image", "v1--5.5.9.9", "sha256:0ba1a1680efffa0f1a2753deb3e50813c893a405c548b7024c836d8e5cb31408",
		[2]string{"sha256:5a15f07af0cf11b7c7f6aa4205a3647705c5cc8fc157973908e41a2edd45e48e", "sha256:9ba61f2d72f7278fed5ced5e755625c7af30cac7b4cbc88e6d08c09ada3a1628"},
		[2]string{"sha256:0bb5128fff1d5bf41ca78b332bf25e859fec18641ac687318b87ccc0f3127926", "sha256:22f5c64521225f97312dd1115ee0a44e9a3cb53ef790badfa142ad4bbdbc47d8"}},
	{"sparse-image", "v1--0.0.9.9", "sha256:889aeeeeac34861d54be6ec848f1663d90949917f68b72b8d22563b12daf24d5",
		[2]string{"sha256:68d95db36b5cec1e099138a1d620f9550fbbb5f3fb43d66c984ff95e930a3267", "sha256:52abd4ccd9443e8dd29249f0a3c9358672d81a626679d074646cc885cdf666bf"},
		[2]string{"sha256:a90a4cd28c18ad0378987dced7ea417889bffe2ec9f7228f1c0ba593e8e9446b", "sha256:3480bfa2e5525666b1a4a2b161b57f75c35229f86db70ea7c0a9187b01a61da7"}},
	{"sparse-image", "v1--3.0.3.3", "sha256:4bfeb68a0854300f0b70c871222ab44e7bfd12125c54130ad3c100f8b3e492cf",
		[2]string{"sha256:794c45fb80dfcd1876228fb02961c252ae869306f7e12da114083c2eaa0f5bd6", "sha256:bf692ee85ddbadc473f6c15ce9cb7edeffe09e462cc1b7d449ac3d0278eac183"},
		[2]string{"sha256:3a7a875ba2e20797d28e27ba767c918a835fffe77fbab4eb1b4e41230e97ad57", "sha256:d4a8d220c927cdc37e672de4163a3f4f95e6008907ce6c132732214844929e31"}},
	{"sparse-image", "v1--5.5.9.9", "sha256:8c7bc15c9b2af73c7268cb1613ab5a13096461c5b44799db58df513b951aaa68",
		// Base-only configs (and the annotation-free arm64 manifest) are
		// the same as dense's: nothing image-specific is left in them.
		[2]string{"sha256:b9a4025090750cbf0de56fb7d05d9823917c2807a0d8de5ff03e8bd5324ee87b", "sha256:9ba61f2d72f7278fed5ced5e755625c7af30cac7b4cbc88e6d08c09ada3a1628"},
		[2]string{"sha256:0bb5128fff1d5bf41ca78b332bf25e859fec18641ac687318b87ccc0f3127926", "sha256:22f5c64521225f97312dd1115ee0a44e9a3cb53ef790badfa142ad4bbdbc47d8"}},
}

func TestGoldenDigests(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.layout+"/"+g.ref, func(t *testing.T) {
			src, mt, body := fixtureImage(t, g.layout)
			res := mustFlatten(t, src, mt, body, g.ref)
			if got := res.Top.Digest.String(); got != g.top {
				t.Errorf("index %s, want %s", got, g.top)
			}
			want := map[string][2]string{"linux/amd64": g.amd64, "linux/arm64": g.arm64}
			for _, k := range children(t, src, res) {
				p := platformString(k.platform)
				got := [2]string{k.desc.Digest.String(), k.manifest.Config.Digest.String()}
				if got != want[p] {
					t.Errorf("%s: manifest, config = %v, want %v", p, got, want[p])
				}
			}
			if len(res.Manifests) != 2 || len(res.Configs) != 2 {
				t.Errorf("%d manifests and %d configs generated, want 2 and 2", len(res.Manifests), len(res.Configs))
			}
		})
	}
}

// The exact bytes of a flattened single manifest and its config pin every
// canonical JSON rule that the fixtures exercise.
func TestGoldenSingleManifestBytes(t *testing.T) {
	src, _, _ := fixtureImage(t, "tdfs-image")
	mt, body, err := src.Manifest(context.Background(), "sha256:b21f7fb56cf7cf8e6a35e764b5cead2deead1833f0b500854a992b38f78d22f6")
	if err != nil {
		t.Fatal(err)
	}
	res := mustFlatten(t, src, mt, body, "b21f7fb5--0.0.1.1")
	const wantManifest = `{"annotations":{"org.opencontainers.image.title":"2dfs-fixture-base","org.opencontainers.image.url":"https://127.0.0.1:5055/fixture/dense","org.opencontainers.image.version":"v1"},` +
		`"config":{"digest":"sha256:ec01d1afa037627725e1783dcc49e1141579ac5c6532b6db4a09649869e3d8e3","mediaType":"application/vnd.oci.image.config.v1+json","size":838},` +
		`"layers":[{"digest":"sha256:bfd8c17083a6fd320f0d92ae210d48e9a2824b6be940d2bc25b77033930755b0","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":189},` +
		`{"digest":"sha256:95f42490eec7a6ffd1965a0ac44f87f8874d8cd89086ab6f69489daad51f607b","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":138},` +
		`{"digest":"sha256:59f076d53c4b90b3858296945661b0944f1be6230de05a751f78182e476b0601","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":129},` +
		`{"digest":"sha256:3cff885b0a9a34ac7cdf1bb48648f0b55e4a5c5631b81b0c2d8f59cbe9cca34c","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":219},` +
		`{"digest":"sha256:eb1cf885661b07b539afec5613ab10aa44ec8d08a181fd3d85c7943489e62788","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":108},` +
		`{"digest":"sha256:f73c8b3cf8aa7fc505c562bfe3291dd26a8efc9f9edc08cd422a6e7ead50d987","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":733}],` +
		`"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}`
	const wantConfig = `{"architecture":"amd64","config":{"Cmd":["/bin/sh"],"Env":["PATH=/usr/bin:/bin"]},"created":"0001-01-01T00:00:00Z",` +
		`"history":[{"created":"0001-01-01T00:00:00Z"},{"created":"0001-01-01T00:00:00Z"},{"created_by":"2dfs allotment 0,0"},{"created_by":"2dfs allotment 0,1"},{"created_by":"2dfs allotment 1,0"},{"created_by":"2dfs allotment 1,1"}],` +
		`"os":"linux","rootfs":{"diff_ids":["sha256:2cda39a9cfb6f8c2c2f9b89e41a11592b0864fd383eeb602577a8514d96381ec","sha256:3cfb1c957e063bb5aedcdd97370892c91063d8926ca66b8ce9622679f0f17546",` +
		`"sha256:1b24e69deb843e65df1a81e879797075e69252894f11194b1f2e6cf249fe2088","sha256:b63f8bf19de88ae1a93747588237589688cf8529592342df653942f356237f6f",` +
		`"sha256:4f2fd6b0e87f86c25c5b9cd7a13a137bcb33fd256dfa5dd6f1eea77e72802788","sha256:a9135a0a932838f8829186df4eacb443151802ae056b424a8c265b45174459ea"],"type":"layers"}}`
	if got := string(res.Top.Data); got != wantManifest {
		t.Errorf("manifest:\n got %s\nwant %s", got, wantManifest)
	}
	if res.Top.Digest != "sha256:f5ec7c79af7199ca88171458945eac13700d82d71f60f1070f893253a9c5816b" || res.Top.Digest != digest.FromString(wantManifest) {
		t.Errorf("manifest digest %s", res.Top.Digest)
	}
	if len(res.Configs) != 1 || string(res.Configs[0].Data) != wantConfig {
		t.Fatalf("configs: %v", res.Configs)
	}
	if len(res.Manifests) != 0 || res.Top.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("single manifest: %d child manifests, top %s", len(res.Manifests), res.Top.MediaType)
	}
}

func mustFlatten(t testing.TB, src Source, mt string, body []byte, ref string) *Result {
	t.Helper()
	_, sel, ok, err := partition.ParseRef(ref)
	if !ok || err != nil {
		t.Fatalf("ParseRef(%q): %v %v", ref, ok, err)
	}
	res, err := Flatten(context.Background(), src, mt, body, sel)
	if err != nil {
		t.Fatalf("Flatten %s: %v", ref, err)
	}
	return res
}
