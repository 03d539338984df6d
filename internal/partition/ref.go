package partition

// maxTagLen is the longest tag the OCI distribution spec allows.
const maxTagLen = 128

// ParseRef splits a semantic reference into its base tag and selection.
//
// Grammar (anchored at both ends):
//
//	semantic-ref = base-tag 1*rect
//	rect         = "--" row1 "." col1 "." row2 "." col2   ; decimal digits
//
// The rectangles are the longest trailing run of rects; base is the text
// before the first of them, so a base may itself contain "--"
// ("b--rel-2--0.0.0.0" has base "b--rel-2"), and junk between rects ends
// up in the base ("v1--0.0.0.0--junk--1.1.1.1" has base
// "v1--0.0.0.0--junk").
//
// ok is false, with a nil error, when ref is not a semantic reference and
// must be looked up literally: no trailing rect (trailing junk, a rect with
// three numbers, a single dash), a number above MaxCoord, a base that is not
// a valid tag ([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}), or a ref longer than 128
// characters. Leading zeros are accepted ("01" is 1).
//
// When ref is syntactically semantic but a rectangle is inverted
// (row1 > row2 or col1 > col2), ok is true, base is set and err is a
// *RectError (wrapping ErrInvalidRect) describing the first such rectangle;
// the caller decides whether a literal tag of that name takes precedence.
func ParseRef(ref string) (base string, sel Selection, ok bool, err error) {
	if len(ref) > maxTagLen {
		return "", Selection{}, false, nil
	}
	var rev []Rect // rects, last first
	end := len(ref)
	for {
		r, start, found := trailingRect(ref[:end])
		if !found {
			break
		}
		rev = append(rev, r)
		end = start
	}
	base = ref[:end]
	if len(rev) == 0 || !ValidTag(base) {
		return "", Selection{}, false, nil
	}
	rects := make([]Rect, len(rev))
	for i, r := range rev {
		rects[len(rev)-1-i] = r
	}
	for _, r := range rects {
		if err := r.check(); err != nil {
			return base, Selection{}, true, err
		}
	}
	return base, Selection{rects: rects}, true, nil
}

// trailingRect parses a rect at the very end of s and returns it with the
// index where its "--" starts.
func trailingRect(s string) (r Rect, start int, ok bool) {
	var n [4]int
	i := len(s)
	for k := 3; k >= 0; k-- {
		j := i
		for j > 0 && s[j-1] >= '0' && s[j-1] <= '9' {
			j--
		}
		v, ok := parseCoord(s[j:i])
		if !ok {
			return Rect{}, 0, false
		}
		n[k] = v
		if k > 0 {
			if j == 0 || s[j-1] != '.' {
				return Rect{}, 0, false
			}
			j--
		}
		i = j
	}
	if i < 2 || s[i-2:i] != "--" {
		return Rect{}, 0, false
	}
	return Rect{Row1: n[0], Col1: n[1], Row2: n[2], Col2: n[3]}, i - 2, true
}

// parseCoord parses a non-empty run of decimal digits no larger than
// MaxCoord.
func parseCoord(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		v = v*10 + int64(s[i]-'0')
		if v > MaxCoord {
			return 0, false
		}
	}
	return int(v), true
}

// ValidTag reports whether s is a valid OCI tag:
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func ValidTag(s string) bool {
	if len(s) == 0 || len(s) > maxTagLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
