package partition

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// oracleField applies ParseField's documented rules to a document decoded
// by encoding/json. The fast parser must agree with it.
func oracleField(b []byte) ([]Allotment, error) {
	if !json.Valid(b) {
		return nil, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, err
	}
	bad := errors.New("bad shape")
	var rows []any
	switch t := top.(type) {
	case nil:
		return nil, bad
	case map[string]any:
		r, ok := t["rows"].([]any)
		if !ok {
			return nil, bad
		}
		rows = r
	default:
		return nil, bad
	}
	var out []Allotment
	for i, row := range rows {
		var cells []any
		switch r := row.(type) {
		case nil:
		case map[string]any:
			switch a := r["allotments"].(type) {
			case nil:
			case []any:
				cells = a
			default:
				return nil, bad
			}
		default:
			return nil, bad
		}
		for j, c := range cells {
			var dg, df string
			switch cm := c.(type) {
			case nil:
			case map[string]any:
				for key, dst := range map[string]*string{"digest": &dg, "diffid": &df} {
					switch v := cm[key].(type) {
					case nil:
					case string:
						*dst = v
					default:
						return nil, bad
					}
				}
			default:
				return nil, bad
			}
			if dg == "" && df == "" {
				continue
			}
			if !isHex64([]byte(dg)) || !isHex64([]byte(df)) {
				return nil, bad
			}
			out = append(out, Allotment{i, j, sha(dg), sha(df)})
		}
	}
	return out, nil
}

func checkAgainstOracle(t *testing.T, b []byte) {
	t.Helper()
	if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > maxDepth-10 {
		return // encoding/json allows deeper nesting
	}
	want, werr := oracleField(b)
	f, err := ParseField(b)
	if (err != nil) != (werr != nil) {
		t.Fatalf("ParseField(%q): err %v, oracle err %v", b, err, werr)
	}
	if err != nil {
		if !errors.Is(err, ErrInvalidField) {
			t.Fatalf("error %v does not wrap ErrInvalidField", err)
		}
		return
	}
	if got := slices.Collect(f.All()); !slices.Equal(got, want) {
		t.Fatalf("ParseField(%q) = %v, oracle %v", b, got, want)
	}
}

var fieldJSONCases = []string{
	`{"rows":[]}`, `null`, `{}`, `[]`, `""`, `1`, `{"rows":null}`, `{"rows":{}}`, `{"rows":[1]}`, `{"rows":[[]]}`,
	`{"rows":[null,{},{"allotments":null},{"allotments":[null,{}]}]}`,
	`{"rows":[{"allotments":[{"digest":"` + hex64('a') + `","diffid":"` + hex64('b') + `"}]}]}`,
	`{"rows":[{"allotments":[{"digest":"` + hex64('a') + `","diffid":"` + hex64('b') + `","digest":""}]}]}`,
	`{"rows":[{"allotments":[{"digest":"` + hex64('a') + `","diffid":"` + hex64('b') + `","diffid":null,"digest":null}]}]}`,
	`{"rows":[{"allotments":[{"Digest":"` + hex64('a') + `","diffid":"` + hex64('b') + `"}]}]}`,
	`{"rows":[{"allotments":[{"digest":"\u0061` + hex64('a')[1:] + `","diffid":"` + hex64('b') + `"}]}]}`,
	`{"rows":[{"allotments":[{"digest":"\u00e1` + hex64('a')[1:] + `","diffid":"` + hex64('b') + `"}]}]}`,
	`{"\u0072ows":[{"allotments":[{"digest":"` + hex64('a') + `","diffid":"` + hex64('b') + `"}]}]}`,
	`{"rows":[{"allotments":[{"digest":1,"diffid":""}]}]}`,
	`{"rows":[{"allotments":[{"digest":["x"],"diffid":""}]}]}`,
	`{"rows":[], "x":[1,-0.5e+10,true,false,null,{"a":"\"\\\/\b\f\n\r\t\u00e9"}]}`,
	`{"rows":[], "x":01}`, `{"rows":[], "x":1.}`, `{"rows":[], "x":.5}`, `{"rows":[], "x":-}`, `{"rows":[], "x":1e}`,
	`{"rows":[], "x":"\x"}`, `{"rows":[], "x":"\u12"}`, `{"rows":[], "x":"` + "\x01" + `"}`, `{"rows":[], "x":"abc`,
	`{"rows":[],}`, `{"rows":[1,]}`, `{"rows" []}`, `{"rows":[]} {}`, ` {"rows":[]} `, `{"rows":[]}x`, `{"rows":tru}`,
	`{"rows":[],"x":"` + "\xff\xfe" + `"}`, "{\"rows\":[],\"\xff\":1}",
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
}

func TestFieldParserMatchesOracle(t *testing.T) {
	for _, c := range fieldJSONCases {
		checkAgainstOracle(t, []byte(c))
	}
}

func TestFieldParserDepthLimit(t *testing.T) {
	deep := `{"rows":[],"x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`
	if _, err := ParseField([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("err = %v", err)
	}
	ok := `{"rows":[],"x":` + strings.Repeat("[", maxDepth-2) + strings.Repeat("]", maxDepth-2) + `}`
	if _, err := ParseField([]byte(ok)); err != nil {
		t.Fatalf("depth %d: %v", maxDepth-1, err)
	}
}

func FuzzFieldParserOracle(f *testing.F) {
	for _, c := range fieldJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkAgainstOracle)
}
