package oci

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"library/ubuntu", true}, {"a/b/c", true}, {"a.b", true}, {"a_b", true}, {"a__b", true},
		{"a---b", true}, {"conformance/r1-cm", true}, {"0", true},
		{"", false}, {"A", false}, {"a/", false}, {"/a", false}, {"a//b", false}, {"..", false}, {"a/../b", false},
		{"a/./b", false}, {"a___b", false}, {"a._b", false}, {"a.", false}, {"-a", false}, {"a-", false},
		{"a.-b", false}, {"a b", false}, {"a%2fb", false}, {strings.Repeat("a", 255), true}, {strings.Repeat("a", 256), false},
	} {
		if got := ValidName(tc.name); got != tc.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
		if re := len(tc.name) <= MaxNameLength && nameRE.MatchString(tc.name); re != tc.ok {
			t.Errorf("grammar(%q) = %v, want %v (table is wrong)", tc.name, re, tc.ok)
		}
	}
}

func TestValidTag(t *testing.T) {
	for _, tc := range []struct {
		tag string
		ok  bool
	}{
		{"latest", true}, {"v1.0", true}, {"_x", true}, {"A-b_c.d", true}, {strings.Repeat("a", 128), true},
		{"", false}, {".x", false}, {"-x", false}, {"a/b", false}, {"a:b", false}, {strings.Repeat("a", 129), false},
		{"v1--0.0.1.1", true}, {"a b", false},
	} {
		if got := ValidTag(tc.tag); got != tc.ok {
			t.Errorf("ValidTag(%q) = %v, want %v", tc.tag, got, tc.ok)
		}
		if re := tagRE.MatchString(tc.tag); re != tc.ok {
			t.Errorf("grammar(%q) = %v, want %v (table is wrong)", tc.tag, re, tc.ok)
		}
	}
}

// FuzzNames checks the scanners against the spec's regular expressions.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"a/b", "a__b", "a-_b", "A", "a..b", "x.y-z_w__v", "v1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidName(s), len(s) <= MaxNameLength && nameRE.MatchString(s); got != want {
			t.Fatalf("ValidName(%q) = %v, grammar says %v", s, got, want)
		}
		if got, want := ValidTag(s), tagRE.MatchString(s); got != want {
			t.Fatalf("ValidTag(%q) = %v, grammar says %v", s, got, want)
		}
	})
}
