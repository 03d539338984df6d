package partition

import (
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// BenchmarkParseField64x64 parses a dense 64x64 field as tdfs writes it
// (about 750 kB).
func BenchmarkParseField64x64(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"rows":[`)
	for r := range 64 {
		if r > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"allotments":[`)
		for c := range 64 {
			if c > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"row":%d,"col":%d,"digest":"%s","diffid":"%s"}`, r, c,
				digest.FromString(fmt.Sprint("blob", r, c)).Encoded(), digest.FromString(fmt.Sprint("tar", r, c)).Encoded())
		}
		sb.WriteString(`],"allotments_size":64}`)
	}
	sb.WriteString(`],"rows_size":64,"owner":""}`)
	field := []byte(sb.String())
	b.SetBytes(int64(len(field)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := ParseField(field)
		if err != nil || f.Len() != 64*64 {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRef(b *testing.B) {
	for b.Loop() {
		if _, _, ok, err := ParseRef("v1--0.0.1.1--1.1.2.2--5.5.9.9"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
