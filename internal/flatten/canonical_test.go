package flatten

import (
	"encoding/json"
	"testing"
)

func TestCanonicalJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{}`, `{}`},
		{` { "b" : 1 , "a" : [ 1 , 2 ] } `, `{"a":[1,2],"b":1}`},
		{`{"a":{"d":null,"c":true,"b":false}}`, `{"a":{"b":false,"c":true,"d":null}}`},
		// Byte order of UTF-8 keys: upper case before lower case, "é"
		// (0xC3...) after "z", U+FFFF (0xEF...) before U+10000 (0xF0...).
		{`{"z":1,"é":2,"Z":3,"a":4,"aa":5,"":6,"\uffff":7,"\ud800\udc00":8}`, `{"":6,"Z":3,"a":4,"aa":5,"z":1,"é":2,"` + "\uffff" + `":7,"` + "\U00010000" + `":8}`},
		{`{"n":[1.50,1e3,1E+3,-0,0.000,12345678901234567890123]}`, `{"n":[1.50,1e3,1E+3,-0,0.000,12345678901234567890123]}`},
		{`{"s":"<>&'\u003c\/"}`, `{"s":"<>&'</"}`},
		{`{"s":"\"\\\b\f\n\r\t\u0000\u001f\u007f\u0080"}`, `{"s":"\"\\\b\f\n\r\t\u0000\u001f` + "\u007f\u0080" + `"}`},
		{`{"s":"\u2028\u2029é😀"}`, `{"s":"` + "\u2028\u2029é😀" + `"}`},
		{"{\"s\":\"a\xffb\"}", `{"s":"a` + "\ufffd" + `b"}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`{"a":[[],{},[{}]]}`, `{"a":[[],{},[{}]]}`},
	}
	for _, tt := range tests {
		v, err := decodeObject([]byte(tt.in))
		if err != nil {
			t.Fatalf("decode %s: %v", tt.in, err)
		}
		got, err := canonical(v, 0)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("canonical(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		// Idempotent.
		v2, err := decodeObject(got)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := canonical(v2, 0); string(again) != string(got) {
			t.Errorf("not idempotent: %s -> %s", got, again)
		}
	}
}

func TestDecodeObjectErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `1`, `null`, `{} {}`, `{}x`, `{"a":}`} {
		if _, err := decodeObject([]byte(in)); err == nil {
			t.Errorf("decodeObject(%q) succeeded", in)
		}
	}
}

func TestCanonicalRejectsUnknownTypes(t *testing.T) {
	for _, v := range []any{object{"a": 1}, object{"a": json.Number("")}, []any{struct{}{}}} {
		if _, err := canonical(v, 0); err == nil {
			t.Errorf("canonical(%#v) succeeded", v)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add([]byte(`{"b":[1.0,"x\u2028"],"a":{"c":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeObject(b)
		if err != nil {
			return
		}
		out, err := canonical(v, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q", out)
		}
		v2, err := decodeObject(out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := canonical(v2, 0)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
	})
}
