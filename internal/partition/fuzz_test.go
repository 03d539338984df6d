package partition

import (
	"strings"
	"testing"
)

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"v1", "v1--0.0.1.1", "v1--1.0.0.0", "b--rel-2--0.0.0.0", "v1--0.0.0.0--junk--1.1.1.1",
		"v1--99999999999999999999.0.1.1", "v1--0.0.1", "--0.0.0.0", "v1---0.0.0.0", "v1--0.0.2147483647.2147483647"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		base, sel, ok, err := ParseRef(ref)
		if !ok {
			if err != nil || base != "" || !sel.IsEmpty() {
				t.Fatalf("not semantic but base=%q sel=%q err=%v", base, sel, err)
			}
			return
		}
		if !ValidTag(base) || !strings.HasPrefix(ref, base) || len(ref) > maxTagLen {
			t.Fatalf("bad base %q for %q", base, ref)
		}
		if err != nil {
			return
		}
		if sel.IsEmpty() {
			t.Fatalf("semantic ref %q with empty selection", ref)
		}
		// Re-rendering and normalizing are stable.
		b2, s2, ok2, err2 := ParseRef(base + sel.String())
		if !ok2 || err2 != nil || b2 != base || s2.Key() != sel.Key() {
			t.Fatalf("re-parse of %q: %q %q %v %v", base+sel.String(), b2, s2, ok2, err2)
		}
		if n := sel.Normalize(); n.Key() != sel.Key() {
			t.Fatalf("Key(Normalize) %q != Key %q", n.Key(), sel.Key())
		}
		for _, r := range sel.Rects() {
			if !sel.Contains(r.Row1, r.Col1) || !sel.Contains(r.Row2, r.Col2) {
				t.Fatalf("%v not contained", r)
			}
		}
	})
}

func FuzzParseField(f *testing.F) {
	a := hex64('a')
	for _, s := range []string{`{"rows":[]}`, `null`, `{"rows":[null,{"allotments":[null]}]}`,
		`{"rows":[{"allotments":[` + cell(0, 0, a, a) + `,` + cell(0, 1, "", "") + `]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := ParseField(b)
		if err != nil {
			return
		}
		n := 0
		for al := range fl.All() {
			n++
			if al.Digest.Validate() != nil || al.DiffID.Validate() != nil {
				t.Fatalf("invalid digest in %v", al)
			}
			if got, ok := fl.At(al.Row, al.Col); !ok || got != al {
				t.Fatalf("At(%d,%d) = %v %v", al.Row, al.Col, got, ok)
			}
		}
		if n != fl.Len() || len(fl.Select(All())) != n {
			t.Fatalf("Len %d, All %d, Select(All) %d", fl.Len(), n, len(fl.Select(All())))
		}
	})
}
