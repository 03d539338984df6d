package config

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Redacted replaces the value of a secret in Redact's output.
const Redacted = "<redacted>"

// IsSecret reports whether the key whose last segment is name, with the
// given struct tag, holds a secret: tagged secret:"true", or named like one
// (containing password, secret, token or access_grant, or ending in key),
// unless it names a file holding it (_file, _path).
func IsSecret(name string, tag reflect.StructTag) bool {
	if tag.Get("secret") == "true" {
		return true
	}
	if strings.HasSuffix(name, "_file") || strings.HasSuffix(name, "_path") {
		return false
	}
	for _, w := range []string{"password", "secret", "token", "access_grant"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return name == "key" || strings.HasSuffix(name, "_key")
}

// Redact returns a copy of c whose secrets (non-empty strings, see IsSecret)
// read Redacted.
func Redact(c Config) Config {
	redact(reflect.ValueOf(&c).Elem())
	return c
}

func redact(v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			redact(fv)
		case f.Type.Kind() == reflect.String && fv.Len() > 0 && IsSecret(f.Tag.Get("mapstructure"), f.Tag):
			fv.SetString(Redacted)
		}
	}
}

// MarshalYAML renders c as a configuration file Load reads back: every key,
// in the order of the Config struct, durations and sizes with units.
func MarshalYAML(c Config) ([]byte, error) {
	n, err := yamlNode(reflect.ValueOf(c), "")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	e := yaml.NewEncoder(&buf)
	e.SetIndent(2)
	if err := e.Encode(n); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func yamlNode(v reflect.Value, key string) (*yaml.Node, error) {
	t := v.Type()
	scalar := func(tag, s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s} }
	switch {
	case t == durationType:
		return scalar("!!str", FormatDuration(time.Duration(v.Int()))), nil
	case t == byteSizeType:
		return scalar("!!str", ByteSize(v.Int()).String()), nil
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		return scalar("!!str", string(b)), nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < t.NumField(); i++ {
			name := t.Field(i).Tag.Get("mapstructure")
			val, err := yamlNode(v.Field(i), strings.TrimPrefix(key+"."+name, "."))
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, scalar("!!str", name), val)
		}
		return m, nil
	case reflect.String:
		return scalar("!!str", v.String()), nil
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool())), nil
	}
	// Anything else (numbers, lists, maps): the YAML encoder's own form.
	n := &yaml.Node{}
	if err := n.Encode(v.Interface()); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return n, nil
}
