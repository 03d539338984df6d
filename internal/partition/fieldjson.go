package partition

import (
	"errors"
	"fmt"
)

// The field JSON is the largest object the registry parses on a partition
// request (a 64x64 field is ~750 kB), so it has its own single-pass parser
// instead of encoding/json. It validates the whole input as JSON (RFC 8259,
// nesting limited to maxDepth) and reads only the members it needs, matched
// exactly (case-sensitive); a member given twice keeps its last value, and
// null counts as absent.

const maxDepth = 1000

type fieldParser struct {
	b     []byte
	i     int
	depth int
}

var errSyntax = errors.New("invalid JSON")

func (p *fieldParser) fail(what string) error {
	return fmt.Errorf("%w at offset %d: %s", errSyntax, p.i, what)
}

// wire is the field as read: rows of cells; a nil row is an empty row.
type wire struct {
	hasRows bool
	rows    [][]wireCell
}

type wireCell struct {
	digest, diffID []byte
}

func parseWire(b []byte) (wire, error) {
	p := &fieldParser{b: b}
	var w wire
	p.ws()
	if p.literal("null") {
		// Like an object without "rows".
	} else if err := p.object(func(key []byte) error {
		if string(key) != "rows" {
			return p.skip()
		}
		w.rows, w.hasRows = nil, false
		if p.literal("null") {
			return nil
		}
		w.hasRows = true
		return p.array(func() error {
			row, err := p.row()
			w.rows = append(w.rows, row)
			return err
		})
	}); err != nil {
		return wire{}, err
	}
	p.ws()
	if p.i != len(p.b) {
		return wire{}, p.fail("data after the top-level value")
	}
	return w, nil
}

func (p *fieldParser) row() ([]wireCell, error) {
	if p.literal("null") {
		return nil, nil
	}
	var cells []wireCell
	err := p.object(func(key []byte) error {
		if string(key) != "allotments" {
			return p.skip()
		}
		cells = nil
		if p.literal("null") {
			return nil
		}
		cells = []wireCell{}
		return p.array(func() error {
			c, err := p.cell()
			cells = append(cells, c)
			return err
		})
	})
	return cells, err
}

func (p *fieldParser) cell() (wireCell, error) {
	var c wireCell
	if p.literal("null") {
		return c, nil
	}
	err := p.object(func(key []byte) error {
		var dst *[]byte
		switch string(key) {
		case "digest":
			dst = &c.digest
		case "diffid":
			dst = &c.diffID
		default:
			return p.skip()
		}
		if p.literal("null") {
			*dst = nil
			return nil
		}
		if p.peek() != '"' {
			return p.fail("digest and diffid must be strings")
		}
		s, err := p.str()
		*dst = s
		return err
	})
	return c, err
}

func (p *fieldParser) ws() {
	b, i := p.b, p.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	p.i = i
}

func (p *fieldParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// literal consumes lit if it comes next.
func (p *fieldParser) literal(lit string) bool {
	p.ws()
	if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
		p.i += len(lit)
		return true
	}
	return false
}

func (p *fieldParser) enter() error {
	if p.depth++; p.depth > maxDepth {
		return p.fail("nested too deeply")
	}
	return nil
}

// object parses an object, calling member with each key; member must
// consume the value.
func (p *fieldParser) object(member func(key []byte) error) error {
	if p.peek() != '{' {
		return p.fail("expected an object")
	}
	if err := p.enter(); err != nil {
		return err
	}
	p.i++
	if p.peek() == '}' {
		p.i++
		p.depth--
		return nil
	}
	for {
		if p.peek() != '"' {
			return p.fail("expected a member name")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		if p.peek() != ':' {
			return p.fail("expected ':'")
		}
		p.i++
		if err := member(key); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return nil
		default:
			return p.fail("expected ',' or '}'")
		}
	}
}

// array parses an array, calling elem for each element; elem must consume
// it.
func (p *fieldParser) array(elem func() error) error {
	if p.peek() != '[' {
		return p.fail("expected an array")
	}
	if err := p.enter(); err != nil {
		return err
	}
	p.i++
	if p.peek() == ']' {
		p.i++
		p.depth--
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return nil
		default:
			return p.fail("expected ',' or ']'")
		}
	}
}

// skip consumes and validates any value.
func (p *fieldParser) skip() error {
	switch c := p.peek(); {
	case c == '{':
		return p.object(func([]byte) error { return p.skip() })
	case c == '[':
		return p.array(p.skip)
	case c == '"':
		_, err := p.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"), p.literal("false"), p.literal("null"):
		return nil
	}
	return p.fail("expected a value")
}

func (p *fieldParser) number() error {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.b[p.i] == '-' {
		p.i++
	}
	switch n := digits(); {
	case n == 0:
		return p.fail("invalid number")
	case n > 1 && p.b[p.i-n] == '0':
		p.i = start
		return p.fail("leading zero in number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return p.fail("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return p.fail("invalid number")
		}
	}
	return nil
}

// str consumes a string and returns its content. Without escapes the
// result aliases the input. Escapes are decoded; a \u escape of a non-ASCII
// character becomes the byte 0xFF, which is enough here: only ASCII names
// and hex digits are ever compared.
func (p *fieldParser) str() ([]byte, error) {
	p.i++ // opening quote
	start := p.i
	var out []byte // nil until the first escape
	for p.i < len(p.b) {
		b, i := p.b, p.i // locals keep the hot loop in registers
		for i < len(b) && plain[b[i]] {
			i++
		}
		p.i = i
		if p.i == len(p.b) {
			break
		}
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if out != nil {
				return append(out, s...), nil
			}
			return s, nil
		case c < 0x20:
			return nil, p.fail("control character in string")
		}
		out = append(out, p.b[start:p.i]...)
		if p.i+1 >= len(p.b) {
			return nil, p.fail("unterminated string")
		}
		switch e := p.b[p.i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			v, ok := hex4(p.b[p.i+2:])
			if !ok {
				return nil, p.fail("invalid \\u escape")
			}
			if v < 0x80 {
				out = append(out, byte(v))
			} else {
				out = append(out, 0xFF)
			}
			p.i += 4
		default:
			return nil, p.fail("invalid escape")
		}
		p.i += 2
		start = p.i
	}
	return nil, p.fail("unterminated string")
}

// plain marks the bytes a string holds as they are: not '"', '\\' or a
// control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hex4 decodes the four hex digits starting b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	return v, true
}
