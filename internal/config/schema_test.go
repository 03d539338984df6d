package config

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// yamlDoc decodes a YAML configuration as the validator sees it.
func yamlDoc(t *testing.T, y string) any {
	t.Helper()
	doc, err := fileDocument([]byte(y))
	if err != nil {
		t.Fatalf("decoding %q: %v", y, err)
	}
	return doc
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSchemaIsValid(t *testing.T) {
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if m["$schema"] != SchemaDialect || m["type"] != "object" || m["additionalProperties"] != false {
		t.Fatalf("schema head: $schema=%v type=%v additionalProperties=%v", m["$schema"], m["type"], m["additionalProperties"])
	}
	// Compiling checks the schema against the draft 2020-12 meta-schema.
	if _, err := CompileSchema(); err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
}

// TestSchemaCoversEveryKey walks the schema: its leaves are exactly the keys
// Load accepts, each described and with the default of Defaults; every
// object is closed.
func TestSchemaCoversEveryKey(t *testing.T) {
	s, err := BuildSchema()
	if err != nil {
		t.Fatal(err)
	}
	defaults := flatten(Defaults())
	var leaves []string
	described := map[string][]string{} // description -> keys
	var walk func(s *Schema, key string)
	walk = func(s *Schema, key string) {
		if s.Properties == nil {
			leaves = append(leaves, key)
			if s.Description == "" {
				t.Errorf("%s has no description: add a desc:\"...\" tag to its field", key)
			}
			if want := schemaDefault(t, defaults[key]); !reflect.DeepEqual(s.Default, want) {
				t.Errorf("%s: default %#v, want %#v", key, s.Default, want)
			}
			described[s.Description] = append(described[s.Description], key)
			// The fields of a list's entries are described too.
			if s.Items != nil {
				for name, p := range s.Items.Properties {
					k := key + "[]." + name
					if p.Description == "" {
						t.Errorf("%s has no description: add a desc:\"...\" tag to its field", k)
					}
					described[p.Description] = append(described[p.Description], k)
				}
			}
			return
		}
		if s.AdditionalProperties != false {
			t.Errorf("%q: additionalProperties %v, want false", key, s.AdditionalProperties)
		}
		for name, p := range s.Properties {
			walk(p, strings.TrimPrefix(key+"."+name, "."))
		}
	}
	walk(s, "")
	// Each key in its own words: a description shared is one copied to the
	// wrong field.
	for d, keys := range described {
		if d != "" && len(keys) > 1 {
			t.Errorf("%v share the description %q", keys, d)
		}
	}
	sort.Strings(leaves)
	if keys := Keys(); !slices.Equal(leaves, keys) {
		t.Fatalf("schema leaves %v\nLoad's keys    %v", leaves, keys)
	}
}

// schemaDefault is how the schema should write the default v.
func schemaDefault(t *testing.T, v any) any {
	switch d := v.(type) {
	case time.Duration:
		return FormatDuration(d)
	case ByteSize:
		return d.String()
	case encoding.TextMarshaler:
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0 {
		return nil // no default written
	}
	return v
}

// TestEnumTagsMatchValidate: the values an enum tag lists are the ones
// Validate accepts for that key.
func TestEnumTagsMatchValidate(t *testing.T) {
	s, err := BuildSchema()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for key, val := range flatten(Defaults()) {
		p := s
		for _, seg := range strings.Split(key, ".") {
			p = p.Properties[seg]
		}
		if p.Enum == nil {
			continue
		}
		n++
		if !slices.Contains(p.Enum, val.(string)) {
			t.Errorf("%s: default %q is not in its enum %v", key, val, p.Enum)
		}
		mentions := func(v string) bool {
			c := Defaults()
			setKey(t, &c, key, v)
			err := c.Validate()
			return err != nil && strings.Contains(err.Error(), key+" ")
		}
		for _, v := range p.Enum {
			if mentions(v) {
				t.Errorf("%s: Validate rejects %q, which the enum tag allows", key, v)
			}
		}
		if !mentions("no-such-value") {
			t.Errorf("%s: Validate accepts a value outside the enum %v", key, p.Enum)
		}
	}
	if n < 3 {
		t.Fatalf("found %d enum keys, want log.level, log.format and storage.backend at least", n)
	}
}

// setKey sets the string at a dotted key of c.
func setKey(t *testing.T, c *Config, key, v string) {
	t.Helper()
	rv := reflect.ValueOf(c).Elem()
	for _, seg := range strings.Split(key, ".") {
		found := false
		for i := 0; i < rv.NumField(); i++ {
			if rv.Type().Field(i).Tag.Get("mapstructure") == seg {
				rv, found = rv.Field(i), true
				break
			}
		}
		if !found {
			t.Fatalf("no key %s", key)
		}
	}
	rv.SetString(v)
}

// TestSchemaAgreesWithLoad feeds the same documents to the validator and to
// Load: both must accept a good file, both must reject an unknown key or a
// structure mistake. The schema is stricter on types (a duration without a
// unit, a number for a string), which `dfsreg config verify` reports; Load
// alone is stricter on meaning (a backend's required keys).
func TestSchemaAgreesWithLoad(t *testing.T) {
	full := `addr: 127.0.0.1:5000
root: /var/lib/dfsreg
log: {level: debug, format: json}
http: {read_header_timeout: 10s, idle_timeout: 1m30s, shutdown_timeout: 1.5s}
storage:
  backend: ipfs
  storj: {bucket: b, access_grant: g, part_size: 16MiB}
  ipfs: {api: /ip4/127.0.0.1/tcp/5001, cache_dir: /tmp/c, cache_size: 1073741824}
uploads: {expiry: 12h}
gc: {interval: 1h, grace: 30m, untagged: true, retention: 48h}
`
	for _, tc := range []struct {
		name         string
		yaml         string
		schemaOK     bool
		loadOK       bool
		schemaErrHas string
	}{
		{"empty", "", true, true, ""},
		{"every key", full, true, true, ""},
		{"size with spaces", "storage: {ipfs: {cache_size: ' 2 GiB '}}\n", true, true, ""},
		{"unknown top key", "addres: x\n", false, false, "addres"},
		{"unknown nested key", "log: {levle: debug}\n", false, false, "levle"},
		{"unknown section", "storage: {s3: {bucket: x}}\n", false, false, "s3"},
		{"map for a string", "addr: {host: x}\n", false, false, "/addr"},
		{"list for a section", "log: [debug]\n", false, false, "/log"},
		{"bad enum", "log: {level: loud}\n", false, false, "/log/level"},
		{"bad duration", "uploads: {expiry: soon}\n", false, false, "/uploads/expiry"},
		{"bad size", "storage: {ipfs: {cache_size: 10 gigs}}\n", false, false, "/storage/ipfs/cache_size"},
		{"negative size", "storage: {ipfs: {cache_size: -1}}\n", false, true, "/storage/ipfs/cache_size"}, // Load checks cache_size with the ipfs backend only
		{"negative duration", "gc: {grace: -1h}\n", false, false, "/gc/grace"},
		{"duration without unit", "uploads: {expiry: 90}\n", false, true, "/uploads/expiry"},
		{"number for a string", "addr: 5000\n", false, true, "/addr"},
		{"string for a bool", "gc: {untagged: 'true'}\n", false, true, "/gc/untagged"},
		{"storj without bucket", "storage: {backend: storj, storj: {access_grant: g}}\n", true, false, ""},
		{"ipfs without api", "storage: {backend: ipfs}\n", true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateDocument(yamlDoc(t, tc.yaml))
			if (err == nil) != tc.schemaOK {
				t.Errorf("schema: ok=%v, want %v (%v)", err == nil, tc.schemaOK, err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.schemaErrHas) {
				t.Errorf("schema error %q does not mention %q", err, tc.schemaErrHas)
			}
			var verr *jsonschema.ValidationError
			if err != nil && !errors.As(err, &verr) {
				t.Errorf("schema error %T is not a validation error: %v", err, err)
			}
			_, err = Load(writeFile(t, "c.yaml", tc.yaml), nil)
			if (err == nil) != tc.loadOK {
				t.Errorf("Load: ok=%v, want %v (%v)", err == nil, tc.loadOK, err)
			}
		})
	}
}

// TestMarshalYAMLRoundTrip: what `config show` prints is a file Load reads
// back to the same configuration, and that the schema accepts.
func TestMarshalYAMLRoundTrip(t *testing.T) {
	c := Defaults()
	c.Addr, c.Log.Format = "127.0.0.1:6000", "json"
	c.HTTP.IdleTimeout = 90 * time.Second
	c.Storage.IPFS.CacheSize = 3 << 30
	c.GC.Untagged, c.GC.Interval = true, 36*time.Hour+30*time.Minute
	for _, c := range []Config{Defaults(), c} {
		b, err := MarshalYAML(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateDocument(yamlDoc(t, string(b))); err != nil {
			t.Errorf("schema rejects MarshalYAML's output:\n%s\n%v", b, err)
		}
		got, err := Load(writeFile(t, "c.yaml", string(b)), nil)
		if err != nil {
			t.Fatalf("Load(MarshalYAML):\n%s\n%v", b, err)
		}
		if !reflect.DeepEqual(*got, c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", *got, c)
		}
	}
	b, _ := MarshalYAML(Defaults())
	if !bytes.HasPrefix(b, []byte("addr: :5000\nroot: dfsreg-data\nlog:\n")) || !bytes.Contains(b, []byte("expiry: 24h\n")) {
		t.Errorf("MarshalYAML(Defaults()) is not in struct order with short durations:\n%s", b)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
		2 * time.Minute: "2m", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(want); err != nil || back != d {
			t.Errorf("%q parses to %v, %v", want, back, err)
		}
	}
}
