package partition

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dfsreg/dfsreg/internal/testutil"
)

// fixtureDir is the shared 2DFS fixtures directory (see testutil.Fixture2DFS).
func fixtureDir(t testing.TB) string { return testutil.Fixture2DFS(t) }

func readFixture(t testing.TB, rel ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{fixtureDir(t)}, rel...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	denseFieldHex  = "fde50604a40da4df7d035b6c8d4faba36887f295fcecf62ca7f1f63b4810327e"
	sparseFieldHex = "3375c3200a7c596eca6ba3db97db446c5d307ef1218246d30bba155c5f485f67"
)

// fixtureFields returns the parsed field of each fixture image by name.
func fixtureFields(t testing.TB) map[string]*Field {
	t.Helper()
	fields := map[string]*Field{}
	for name, b := range map[string][]byte{
		"dense":  readFixture(t, "tdfs-image", "blobs", "sha256", denseFieldHex),
		"sparse": readFixture(t, "sparse-field.json"),
	} {
		f, err := ParseField(b)
		if err != nil {
			t.Fatalf("%s field: %v", name, err)
		}
		fields[name] = f
	}
	return fields
}

// labels is the label table of semantic-tags.md: digest and diffid (bare
// hex) of every allotment of both fixtures. The label names the cell:
// "d12" is (1,2) of dense.
var labels = map[string][2]string{
	"d00": {"59f076d53c4b90b3858296945661b0944f1be6230de05a751f78182e476b0601", "1b24e69deb843e65df1a81e879797075e69252894f11194b1f2e6cf249fe2088"},
	"d01": {"3cff885b0a9a34ac7cdf1bb48648f0b55e4a5c5631b81b0c2d8f59cbe9cca34c", "b63f8bf19de88ae1a93747588237589688cf8529592342df653942f356237f6f"},
	"d02": {"e9b7f15aef1548a606593c87080eac7df50a77c8f2ed6d4bf04a53fa6eeb133a", "cbceb08f0bd814569ad4d66f0e20136cb9187de8b7b13f6e48df322a82b418fc"},
	"d10": {"eb1cf885661b07b539afec5613ab10aa44ec8d08a181fd3d85c7943489e62788", "4f2fd6b0e87f86c25c5b9cd7a13a137bcb33fd256dfa5dd6f1eea77e72802788"},
	"d11": {"f73c8b3cf8aa7fc505c562bfe3291dd26a8efc9f9edc08cd422a6e7ead50d987", "a9135a0a932838f8829186df4eacb443151802ae056b424a8c265b45174459ea"},
	"d12": {"8624afdae1e3a3a88f2f421f55213f62db88d0edcf5e576ee222025d4788fea4", "540db2c9d50eb4914b8bc7885d74d849f30eb212ae89ffa41fcc09e078d4bea3"},
	"d20": {"58bb81f57fe389810b079c6bc54ef8d5dcf97a213c467c485dd6b728f7fb8284", "d9fda130d88e90d7522cdc8c7298157c5ca04eb7a8a45cccc8c1c8cc3e5e4949"},
	"d21": {"4f520c927457a092e32f454291103555dd5ca1714ef9ab5341772ed47367beb0", "3c7eb806e85e1953283204a547b9fa81988238d5e646d52c1755695bcdc14226"},
	"d22": {"0d257d3f7ea0ab8da39e11c4ba2ce90f067722390bca6b6caf10abfb93051cae", "d7bfb80cc75b39511d264e79ef4023cd1d8ef51b3a2b1871af79a5a73ab3e181"},
	"s00": {"15c259ee406c14549cfc53259130b389b8775ddea41bbf6615ee4e640f984a93", "33a3d8507de8b8c4c445932e1965aa32718253f624f75dd9f520a8a874428cb0"},
	"s02": {"ce6d497dcc543ebac605268459e663ed8452b01d13f4c90fa55a7648ea6d1f52", "6f705975e91b9797f0485e948412e299a07acd89a7ead01c8f434c0f0ea977e3"},
	"s21": {"eddcc97e896092ad957a4583f708531f4ec614342b82c7d7a46b3104ab07016e", "cbc2bea3990aee1a0c76c71bb0c7fe0c6157a04b2bb5c4fd5125277df3199dc7"},
	"s33": {"9fd0ce145cb03f4e22c6237cc9fea5c62427a0085693931dec8633919c294d86", "7c13af684a15dec09aa23f3d6c1be175eb2c744dab7710dcd382173ac11f3dc9"},
}

// labelOf names an allotment of the given fixture ("d" or "s" prefix).
func labelOf(prefix string, a Allotment) string {
	return fmt.Sprintf("%s%d%d", prefix, a.Row, a.Col)
}
