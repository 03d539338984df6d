package partition

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Expected selections on the fixtures, per spec §4: the reference's
// layers with duplicates removed, row-major.
func TestSelectFixtures(t *testing.T) {
	fields := fixtureFields(t)
	tests := []struct {
		ref           string
		dense, sparse string // labels, space separated
	}{
		{"v1--0.0.0.0", "d00", "s00"},
		{"v1--0.0.1.1", "d00 d01 d10 d11", "s00"},
		{"v1--0.2.2.2", "d02 d12 d22", "s02"},
		{"v1--1.1.1.1--0.0.0.0", "d00 d11", "s00"},
		{"v1--0.0.0.0--1.1.1.1", "d00 d11", "s00"},
		{"v1--0.0.1.1--0.0.0.0", "d00 d01 d10 d11", "s00"},
		{"v1--0.0.1.1--1.1.2.2", "d00 d01 d10 d11 d12 d21 d22", "s00 s21"},
		{"v1--0.0.9.9", "d00 d01 d02 d10 d11 d12 d20 d21 d22", "s00 s02 s21 s33"},
		{"v1--5.5.9.9", "", ""},
		{"v1--0.1.1.1", "d01 d11", ""},
		{"v1--3.0.3.3", "", "s33"},
		{"v1--0.0.0.0--junk--1.1.1.1", "d11", ""}, // base "v1--0.0.0.0--junk"
		{"b--rel-2--0.0.0.0", "d00", "s00"},
		{"rel-2--2.2.2.2", "d22", ""},
		{"v1--2.0.2.2--0.0.0.2", "d00 d01 d02 d20 d21 d22", "s00 s02 s21"},
		{"v1--0.0.2147483647.2147483647", "d00 d01 d02 d10 d11 d12 d20 d21 d22", "s00 s02 s21 s33"},
	}
	for _, tt := range tests {
		_, sel, ok, err := ParseRef(tt.ref)
		if !ok || err != nil {
			t.Fatalf("ParseRef(%q): ok=%v err=%v", tt.ref, ok, err)
		}
		for name, want := range map[string]string{"dense": tt.dense, "sparse": tt.sparse} {
			var got []string
			for _, a := range fields[name].Select(sel) {
				got = append(got, labelOf(name[:1], a))
			}
			if strings.Join(got, " ") != want {
				t.Errorf("%s %s: got %v, want %q", name, tt.ref, got, want)
			}
		}
	}
}

// Cross-check with every row of semantic-tags.json that is a valid semantic
// ref on a known base: the reference's appended layers, de-duplicated, are
// what Select must return.
func TestSelectMatchesReferenceJSON(t *testing.T) {
	fields := fixtureFields(t)
	var rows []struct {
		Tag       string
		Image     string
		Status    int
		Platforms map[string]struct {
			Layers      []string
			LayerLabels []string `json:"layer_labels"`
		}
	}
	if err := json.Unmarshal(readFixture(t, "semantic-tags.json"), &rows); err != nil {
		t.Fatal(err)
	}
	bases := map[string]string{"dense/v1": "dense", "sparse/v1": "sparse", "dense-copy/rel-2": "dense"}
	compared := 0
	for _, row := range rows {
		base, sel, ok, err := ParseRef(row.Tag)
		image, known := bases[row.Image+"/"+base]
		if !ok || err != nil || !known || row.Status != 200 {
			continue
		}
		p, found := row.Platforms["linux/amd64"]
		if !found || len(p.Layers) < 2 || slices.Contains(p.LayerLabels, "Fd") {
			t.Fatalf("%s %s: unexpected reference row", row.Image, row.Tag)
		}
		var want []string
		for _, l := range p.Layers[2:] { // after B1, B2amd
			if !slices.Contains(want, l) {
				want = append(want, l)
			}
		}
		var got []string
		for _, a := range fields[image].Select(sel) {
			got = append(got, a.Digest.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: got %v, want %v", row.Image, row.Tag, got, want)
		}
		compared++
	}
	if compared < 20 {
		t.Fatalf("compared only %d rows", compared)
	}
}

func TestSelectRagged(t *testing.T) {
	h := func(c byte) string { return hex64(c) }
	// Row 0 has 5 columns, row 1 none, row 2 two (first a hole), row 3 one.
	in := `{"rows":[` +
		`{"allotments":[` + cell(0, 0, h('0'), h('0')) + `,` + cell(0, 1, h('1'), h('1')) + `,` + cell(0, 2, "", "") + `,` + cell(0, 3, h('3'), h('3')) + `,` + cell(0, 4, h('4'), h('4')) + `]},` +
		`{"allotments":[]},` +
		`{"allotments":[` + cell(2, 0, "", "") + `,` + cell(2, 1, h('5'), h('5')) + `]},` +
		`{"allotments":[` + cell(3, 0, h('6'), h('6')) + `]}]}`
	f, err := ParseField([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rects []Rect
		want  string // "row,col" cells
	}{
		{nil, ""},
		{[]Rect{{0, 0, 3, 4}}, "0,0 0,1 0,3 0,4 2,1 3,0"},
		{[]Rect{{0, 2, 3, 9}}, "0,3 0,4"},
		{[]Rect{{1, 0, 1, 99}}, ""},
		{[]Rect{{0, 4, 0, 4}, {2, 0, 3, 0}, {0, 0, 0, 0}}, "0,0 0,4 3,0"},
		{[]Rect{{0, 1, 2, 1}, {0, 0, 3, 1}}, "0,0 0,1 2,1 3,0"},
		{[]Rect{{4, 0, 9, 9}}, ""},
		{[]Rect{{0, 5, 9, 9}}, ""},
	}
	for _, tt := range tests {
		sel, err := NewSelection(tt.rects...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range f.Select(sel) {
			got = append(got, fmtCell(a.Row, a.Col))
			if want, _ := f.At(a.Row, a.Col); want != a {
				t.Errorf("Select returned %v, At says %v", a, want)
			}
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("Select(%v) = %v, want %q", tt.rects, got, tt.want)
		}
	}
	if got := len(f.Select(All())); got != f.Len() {
		t.Errorf("Select(All()) has %d allotments, want %d", got, f.Len())
	}
}

func fmtCell(r, c int) string { return strconv.Itoa(r) + "," + strconv.Itoa(c) }

func TestNewSelectionErrors(t *testing.T) {
	tests := []struct {
		name  string
		rects []Rect
	}{
		{"row inverted", []Rect{{1, 0, 0, 0}}},
		{"col inverted", []Rect{{0, 1, 0, 0}}},
		{"negative", []Rect{{-1, 0, 0, 0}}},
		{"too large", []Rect{{0, 0, MaxCoord + 1, 0}}},
		{"too many", make([]Rect, MaxRects+1)},
	}
	for _, tt := range tests {
		if _, err := NewSelection(tt.rects...); err == nil {
			t.Errorf("%s: NewSelection succeeded", tt.name)
		}
	}
	if _, err := NewSelection(make([]Rect, MaxRects)...); err != nil {
		t.Errorf("NewSelection(%d rects): %v", MaxRects, err)
	}
}

func TestKeyEquivalences(t *testing.T) {
	groups := [][]string{
		{"v1--0.0.1.1", "v1--0.0.1.1--0.0.0.0", "v1--0.0.0.0--0.0.1.1", "v1--0.0.1.1--0.0.1.1", "v1--00.0.01.1",
			"v1--0.0.0.1--1.0.1.1", "v1--0.0.1.0--0.1.1.1", "v1--0.0.0.0--0.1.0.1--1.0.1.0--1.1.1.1"},
		{"v1--1.1.1.1--0.0.0.0", "v1--0.0.0.0--1.1.1.1"},
		{"v1--0.0.1.1--1.1.2.2", "v1--1.1.2.2--0.0.1.1", "v1--0.0.0.1--1.0.1.2--2.1.2.2", "v1--1.1.2.2--0.0.1.1--1.1.1.1"},
		{"v1--0.0.2147483647.2147483647", "v1--5.5.9.9--0.0.2147483647.2147483647"},
		{"v1--0.0.0.3--0.0.3.0", "v1--0.0.3.0--0.1.0.3"},
	}
	seen := map[string]int{}
	for gi, g := range groups {
		var key string
		for i, ref := range g {
			_, sel, ok, err := ParseRef(ref)
			if !ok || err != nil {
				t.Fatalf("ParseRef(%q): %v %v", ref, ok, err)
			}
			if i == 0 {
				key = sel.Key()
			} else if sel.Key() != key {
				t.Errorf("Key(%q) = %q, want %q (as %q)", ref, sel.Key(), key, g[0])
			}
		}
		if prev, dup := seen[key]; dup {
			t.Errorf("groups %d and %d share key %q", prev, gi, key)
		}
		seen[key] = gi
	}
	if got, want := All().Key(), "0.0.2147483647.2147483647"; got != want {
		t.Errorf("All().Key() = %q, want %q", got, want)
	}
	if got := (Selection{}).Key(); got != "empty" {
		t.Errorf("empty Key() = %q", got)
	}
}

// Key equality must coincide with equality of covered cells. Rectangles
// stay inside [0,5]x[0,5], so comparing that grid is exact.
func TestKeyMatchesCellSets(t *testing.T) {
	const n = 6
	rng := rand.New(rand.NewPCG(1, 2))
	randSel := func() Selection {
		rects := make([]Rect, 1+rng.IntN(4))
		for i := range rects {
			r1, c1 := rng.IntN(n), rng.IntN(n)
			rects[i] = Rect{r1, c1, r1 + rng.IntN(n-r1), c1 + rng.IntN(n-c1)}
		}
		s, err := NewSelection(rects...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cells := func(s Selection) (grid [n][n]bool) {
		for r := range n {
			for c := range n {
				grid[r][c] = s.Contains(r, c)
			}
		}
		return grid
	}
	byKey := map[string][n][n]bool{}
	equalPairs := 0
	for range 20000 {
		s := randSel()
		g, k := cells(s), s.Key()
		norm := s.Normalize()
		if cells(norm) != g {
			t.Fatalf("Normalize(%s) = %s covers other cells", s, norm)
		}
		rs := norm.Rects()
		for i := range rs {
			for j := range i {
				if overlap(rs[i], rs[j]) {
					t.Fatalf("Normalize(%s) = %s overlaps", s, norm)
				}
			}
		}
		if prev, ok := byKey[k]; ok {
			if prev != g {
				t.Fatalf("key %q for different cell sets", k)
			}
			equalPairs++
		}
		byKey[k] = g
	}
	seen := map[[n][n]bool]string{}
	for k, g := range byKey {
		if other, ok := seen[g]; ok {
			t.Fatalf("keys %q and %q for the same cells", k, other)
		}
		seen[g] = k
	}
	if equalPairs == 0 || len(byKey) < 1000 {
		t.Fatalf("weak sample: %d repeats, %d keys", equalPairs, len(byKey))
	}
}

func overlap(a, b Rect) bool {
	return a.Row1 <= b.Row2 && b.Row1 <= a.Row2 && a.Col1 <= b.Col2 && b.Col1 <= a.Col2
}
