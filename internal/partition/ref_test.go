package partition

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	long := strings.Repeat("a", 119) // 119 + len("--0.0.0.0") = 128
	tests := []struct {
		name    string
		ref     string
		ok      bool
		base    string
		key     string // Key of the selection when ok and no error
		wantErr bool
	}{
		// Rows of semantic-tags.md (same rows for dense and sparse).
		{name: "1 plain tag", ref: "v1"},
		{name: "2 single cell", ref: "v1--0.0.0.0", ok: true, base: "v1", key: "0.0.0.0"},
		{name: "3 single rect", ref: "v1--0.0.1.1", ok: true, base: "v1", key: "0.0.1.1"},
		{name: "4 column stripe", ref: "v1--0.2.2.2", ok: true, base: "v1", key: "0.2.2.2"},
		{name: "5 two rects out of order", ref: "v1--1.1.1.1--0.0.0.0", ok: true, base: "v1", key: "0.0.0.0--1.1.1.1"},
		{name: "6 rect inside rect", ref: "v1--0.0.1.1--0.0.0.0", ok: true, base: "v1", key: "0.0.1.1"},
		{name: "7 partial overlap", ref: "v1--0.0.1.1--1.1.2.2", ok: true, base: "v1", key: "0.0.0.1--1.0.1.2--2.1.2.2"},
		{name: "8 beyond the field", ref: "v1--0.0.9.9", ok: true, base: "v1", key: "0.0.9.9"},
		{name: "9 outside the field", ref: "v1--5.5.9.9", ok: true, base: "v1", key: "5.5.9.9"},
		{name: "10 row1 > row2", ref: "v1--1.0.0.0", ok: true, base: "v1", wantErr: true},
		{name: "11 col1 > col2", ref: "v1--0.2.2.0", ok: true, base: "v1", wantErr: true},
		{name: "12 placeholder area", ref: "v1--0.1.1.1", ok: true, base: "v1", key: "0.1.1.1"},
		{name: "13 row 3", ref: "v1--3.0.3.3", ok: true, base: "v1", key: "3.0.3.3"},
		{name: "14 trailing junk", ref: "v1--0.0.1.1junk"},
		// Junk between rects is not a rect, so it belongs to the base; no
		// tag of that name exists, so the literal lookup of the base 404s.
		{name: "15 junk between rects", ref: "v1--0.0.0.0--junk--1.1.1.1", ok: true, base: "v1--0.0.0.0--junk", key: "1.1.1.1"},
		{name: "16 3-number rect", ref: "v1--0.0.1"},
		{name: "17 single dash", ref: "v1-0.0.0.0"},
		{name: "18 integer overflow", ref: "v1--99999999999999999999.0.1.1"},
		{name: "19 unknown base", ref: "v2--0.0.0.0", ok: true, base: "v2", key: "0.0.0.0"},
		{name: "S1 hex base", ref: "b21f7fb56cf7cf8e6a35e764b5cead2deead1833f0b500854a992b38f78d22f6--0.0.1.1",
			ok: true, base: "b21f7fb56cf7cf8e6a35e764b5cead2deead1833f0b500854a992b38f78d22f6", key: "0.0.1.1"},
		{name: "S2 -- inside base", ref: "b--rel-2--0.0.0.0", ok: true, base: "b--rel-2", key: "0.0.0.0"},
		{name: "S3 literal tag name", ref: "rel-2--2.2.2.2", ok: true, base: "rel-2", key: "2.2.2.2"},

		// Further edges.
		{name: "empty", ref: ""},
		{name: "rect only", ref: "--0.0.0.0"},
		{name: "base starts with dot", ref: ".v1--0.0.0.0"},
		{name: "base starts with dash", ref: "-v1--0.0.0.0"},
		{name: "base with slash", ref: "a/b--0.0.0.0"},
		{name: "base with colon", ref: "a:b--0.0.0.0"},
		{name: "non-ascii base", ref: "vé--0.0.0.0"},
		{name: "trailing --", ref: "v1--0.0.0.0--"},
		{name: "five numbers", ref: "v1--0.0.0.0.0"},
		{name: "empty number", ref: "v1--0..0.0"},
		{name: "signed number", ref: "v1--+1.0.1.1"},
		{name: "negative number", ref: "v1--0.0.-1.1"},
		{name: "space", ref: "v1--0.0.1.1 "},
		{name: "triple dash", ref: "v1---0.0.0.0", ok: true, base: "v1-", key: "0.0.0.0"},
		{name: "leading zeros", ref: "v1--00.01.002.0003", ok: true, base: "v1", key: "0.1.2.3"},
		{name: "max coordinate", ref: "v1--0.0.2147483647.2147483647", ok: true, base: "v1", key: "0.0.2147483647.2147483647"},
		{name: "just above max", ref: "v1--0.0.2147483648.0"},
		{name: "overflow in earlier rect", ref: "v1--0.0.4294967296.0--0.0.0.0", ok: true, base: "v1--0.0.4294967296.0", key: "0.0.0.0"},
		{name: "underscore base", ref: "_--1.2.3.4", ok: true, base: "_", key: "1.2.3.4"},
		{name: "dotted base", ref: "1.0--0.0.0.0", ok: true, base: "1.0", key: "0.0.0.0"},
		{name: "base ends with rect-like", ref: "v1.2.3.4--0.0.0.0", ok: true, base: "v1.2.3.4", key: "0.0.0.0"},
		{name: "128 characters", ref: long + "--0.0.0.0", ok: true, base: long, key: "0.0.0.0"},
		{name: "129 characters", ref: long + "a--0.0.0.0"},
		{name: "second rect inverted", ref: "v1--0.0.0.0--2.0.1.0", ok: true, base: "v1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, sel, ok, err := ParseRef(tt.ref)
			if ok != tt.ok {
				t.Fatalf("ParseRef(%q) ok = %v, want %v", tt.ref, ok, tt.ok)
			}
			if !ok {
				if err != nil || base != "" || !sel.IsEmpty() {
					t.Fatalf("ParseRef(%q) not semantic but got base %q, sel %q, err %v", tt.ref, base, sel, err)
				}
				return
			}
			if base != tt.base {
				t.Errorf("ParseRef(%q) base = %q, want %q", tt.ref, base, tt.base)
			}
			if tt.wantErr {
				var re *RectError
				if !errors.As(err, &re) || !errors.Is(err, ErrInvalidRect) {
					t.Fatalf("ParseRef(%q) err = %v, want *RectError", tt.ref, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRef(%q) err = %v", tt.ref, err)
			}
			if got := sel.Key(); got != tt.key {
				t.Errorf("ParseRef(%q) key = %q, want %q", tt.ref, got, tt.key)
			}
			// Re-rendering gives the same parse.
			base2, sel2, ok2, err2 := ParseRef(base + sel.String())
			if !ok2 || err2 != nil || base2 != base || sel2.String() != sel.String() {
				t.Errorf("re-parse of %q gave %q %q %v %v", base+sel.String(), base2, sel2, ok2, err2)
			}
		})
	}
}

func TestParseRefErrorMessage(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"v1--1.0.0.0", "semantic tag: rectangle --1.0.0.0: row1 (1) is greater than row2 (0)"},
		{"v1--0.2.2.0", "semantic tag: rectangle --0.2.2.0: col1 (2) is greater than col2 (0)"},
		{"v1--0.0.0.0--5.0.1.9--0.3.0.1", "semantic tag: rectangle --5.0.1.9: row1 (5) is greater than row2 (1)"},
	}
	for _, tt := range tests {
		_, _, _, err := ParseRef(tt.ref)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseRef(%q) err = %v, want %q", tt.ref, err, tt.want)
		}
	}
}

func TestParseRefKeepsRectOrder(t *testing.T) {
	_, sel, ok, err := ParseRef("v1--2.2.3.3--0.0.0.0--1.0.1.9")
	if !ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	want := []Rect{{2, 2, 3, 3}, {0, 0, 0, 0}, {1, 0, 1, 9}}
	got := sel.Rects()
	if len(got) != len(want) {
		t.Fatalf("rects = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rects = %v, want %v", got, want)
		}
	}
}

func TestValidTag(t *testing.T) {
	tests := []struct {
		tag  string
		want bool
	}{
		{"v1", true}, {"_", true}, {"A.b-c_d", true}, {strings.Repeat("x", 128), true},
		{"", false}, {".a", false}, {"-a", false}, {"a/b", false}, {"a+b", false},
		{strings.Repeat("x", 129), false},
	}
	for _, tt := range tests {
		if got := ValidTag(tt.tag); got != tt.want {
			t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.want)
		}
	}
}
