package config

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// The JSON Schema of the configuration file is generated from Config by
// reflection, so a section added to Config is in the schema without more
// work. Per field, struct tags beside mapstructure say more:
//
//	desc:"..."          the key's description (every key should have one)
//	enum:"a,b,c"        the allowed values of a string
//	secret:"true"       a secret: writeOnly in the schema, redacted by Redact
//
// Durations are strings with a unit (30s, 2m, 24h); sizes (ByteSize) are
// strings with an optional unit (64MiB) or a number of bytes.

// SchemaDialect is the JSON Schema draft the schema is written in.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

const (
	// durationPattern matches what time.ParseDuration accepts, without a sign.
	durationPattern = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	// byteSizePattern matches what ByteSize.UnmarshalText accepts.
	byteSizePattern = `^\s*[0-9]+\s*(KiB|MiB|GiB|TiB|KB|MB|GB|TB|B)?\s*$`
)

// Schema is one JSON Schema node, with the keywords the configuration needs.
type Schema struct {
	Dialect              string             `json:"$schema,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Type                 any                `json:"type,omitempty"` // a name, or a list of names
	Properties           map[string]*Schema `json:"properties,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"` // false, or a *Schema
	Items                *Schema            `json:"items,omitempty"`
	Enum                 []string           `json:"enum,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	Minimum              *int64             `json:"minimum,omitempty"`
	Default              any                `json:"default,omitempty"`
	WriteOnly            bool               `json:"writeOnly,omitempty"`
}

// JSONSchema returns the schema of the configuration file, indented JSON.
func JSONSchema() ([]byte, error) {
	s, err := BuildSchema()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BuildSchema generates the schema of Config, with the defaults of Defaults.
func BuildSchema() (*Schema, error) {
	s, err := schemaOf(reflect.TypeOf(Config{}), reflect.ValueOf(Defaults()), "")
	if err != nil {
		return nil, err
	}
	s.Dialect = SchemaDialect
	s.Title = "dfsreg configuration"
	s.Description = "The YAML file given to dfsreg --config. Every key is optional; unknown keys are errors. " +
		"Environment variables DFSREG_<KEY> (dots as underscores, upper case) override the file."
	return s, nil
}

var (
	durationType        = reflect.TypeOf(time.Duration(0))
	byteSizeType        = reflect.TypeOf(ByteSize(0))
	textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// schemaOf is the schema of a value of type t whose default is def, at key
// (dotted, for error messages).
func schemaOf(t reflect.Type, def reflect.Value, key string) (*Schema, error) {
	switch {
	case t == durationType:
		return &Schema{Type: "string", Pattern: durationPattern, Default: FormatDuration(time.Duration(def.Int()))}, nil
	case t == byteSizeType:
		return &Schema{Type: []string{"string", "integer"}, Pattern: byteSizePattern, Minimum: new(int64), Default: ByteSize(def.Int()).String()}, nil
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		s := &Schema{Type: "string"}
		if m, ok := def.Interface().(encoding.TextMarshaler); ok {
			b, err := m.MarshalText()
			if err != nil {
				return nil, fmt.Errorf("config schema: default of %s: %w", key, err)
			}
			s.Default = string(b)
		}
		return s, nil
	}
	switch t.Kind() {
	case reflect.String:
		return &Schema{Type: "string", Default: def.Interface()}, nil
	case reflect.Bool:
		return &Schema{Type: "boolean", Default: def.Interface()}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Schema{Type: "integer", Default: def.Interface()}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &Schema{Type: "integer", Minimum: new(int64), Default: def.Interface()}, nil
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: "number", Default: def.Interface()}, nil
	case reflect.Slice:
		items, err := schemaOf(t.Elem(), reflect.Zero(t.Elem()), key+"[]")
		if err != nil {
			return nil, err
		}
		items.Default = nil
		s := &Schema{Type: "array", Items: items}
		if def.Len() > 0 {
			s.Default = def.Interface()
		}
		return s, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			break
		}
		vals, err := schemaOf(t.Elem(), reflect.Zero(t.Elem()), key+".*")
		if err != nil {
			return nil, err
		}
		vals.Default = nil
		s := &Schema{Type: "object", AdditionalProperties: vals}
		if def.Len() > 0 {
			s.Default = def.Interface()
		}
		return s, nil
	case reflect.Struct:
		s := &Schema{Type: "object", Properties: map[string]*Schema{}, AdditionalProperties: false}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			if name == "" || name == "-" || !f.IsExported() {
				return nil, fmt.Errorf("config schema: field %s.%s has no mapstructure key", t.Name(), f.Name)
			}
			k := strings.TrimPrefix(key+"."+name, ".")
			p, err := schemaOf(f.Type, def.Field(i), k)
			if err != nil {
				return nil, err
			}
			p.Description = f.Tag.Get("desc")
			if e := f.Tag.Get("enum"); e != "" {
				p.Enum = strings.Split(e, ",")
			}
			p.WriteOnly = f.Tag.Get("secret") == "true"
			if f.Type.Kind() == reflect.Struct && p.Properties != nil {
				p.Default = nil
			}
			s.Properties[name] = p
		}
		return s, nil
	}
	return nil, fmt.Errorf("config schema: %s: type %s has no JSON Schema mapping (add one in schema.go)", key, t)
}

// FormatDuration writes d the short way: 24h, 1h30m, 90s, 0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
