package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// Summary describes a configuration that passed Verify.
type Summary struct {
	File     string
	FileKeys []string // keys the file sets, sorted
	EnvVars  []string // DFSREG_* variables that override keys (non-empty), sorted
	Config   Config   // the effective configuration (secrets included)
}

// Verify checks a configuration file the way serve would read it (the same
// strict loader, the DFSREG_* environment included), then more strictly:
// the file against the JSON Schema (types: a duration needs a unit, a
// string is not a number) and the checks that look outside the file
// (Check). Every problem found is in the error.
func Verify(file string) (*Summary, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	c, err := Load(file, nil)
	if err != nil {
		return nil, err
	}
	doc, err := fileDocument(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	var errs []error
	if err := ValidateDocument(doc); err != nil {
		errs = append(errs, err)
	}
	if err := c.Check(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("config %s: %w", file, errors.Join(errs...))
	}
	s := &Summary{File: file, Config: *c}
	leafKeys(doc, "", &s.FileKeys)
	sort.Strings(s.FileKeys)
	for _, k := range Keys() {
		if os.Getenv(EnvName(k)) != "" { // as the loader, an empty variable is unset
			s.EnvVars = append(s.EnvVars, EnvName(k))
		}
	}
	return s, nil
}

// fileDocument decodes a YAML configuration file into JSON values (an empty
// file is an empty object).
func fileDocument(raw []byte) (any, error) {
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		return nil, err
	}
	if y == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(y)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %w", err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

func leafKeys(doc any, prefix string, out *[]string) {
	m, ok := doc.(map[string]any)
	if !ok || (prefix != "" && len(m) == 0) {
		*out = append(*out, strings.TrimSuffix(prefix, "."))
		return
	}
	for k, v := range m {
		leafKeys(v, prefix+k+".", out)
	}
}

var compiled struct {
	once   sync.Once
	schema *jsonschema.Schema
	err    error
}

// ValidateDocument validates a decoded configuration document (JSON values,
// as jsonschema.UnmarshalJSON returns them) against the JSON Schema.
func ValidateDocument(doc any) error {
	compiled.once.Do(func() {
		compiled.schema, compiled.err = CompileSchema()
	})
	if compiled.err != nil {
		return compiled.err
	}
	err := compiled.schema.Validate(doc)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	// One line per violation, without the schema's location.
	var leaves []error
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, &schemaError{e})
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	return errors.Join(leaves...)
}

// schemaError is one violation of the JSON Schema.
type schemaError struct{ *jsonschema.ValidationError }

func (e *schemaError) Error() string { return "schema: " + e.ValidationError.Error() }
func (e *schemaError) Unwrap() error { return e.ValidationError }

// CompileSchema compiles the generated JSON Schema with a validator.
func CompileSchema() (*jsonschema.Schema, error) {
	b, err := JSONSchema()
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	const loc = "dfsreg-config.schema.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

// Check looks at what Validate cannot see from the values alone: that the
// listen address parses, that the files and directories the configuration
// names are usable, that the IPFS API address has a usable form.
func (c *Config) Check() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	} else if port == "" {
		errs = append(errs, fmt.Errorf("addr %q: no port", c.Addr))
	}
	if fi, err := os.Stat(c.Root); err == nil && !fi.IsDir() {
		errs = append(errs, fmt.Errorf("root %s is not a directory", c.Root))
	}
	switch c.Storage.Backend {
	case "storj":
		if f := c.Storage.Storj.AccessGrantFile; f != "" {
			if b, err := os.ReadFile(f); err != nil {
				errs = append(errs, fmt.Errorf("storage.storj.access_grant_file: %w", err))
			} else if len(bytes.TrimSpace(b)) == 0 {
				errs = append(errs, fmt.Errorf("storage.storj.access_grant_file %s is empty", f))
			}
		}
	case "ipfs":
		api := c.Storage.IPFS.API
		if u, err := url.Parse(api); api != "" && !strings.HasPrefix(api, "/") &&
			(err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			errs = append(errs, fmt.Errorf("storage.ipfs.api %q: want a multiaddr (/ip4/127.0.0.1/tcp/5001) or an http(s) URL", api))
		}
		if d := c.Storage.IPFS.CacheDir; d != "" {
			if fi, err := os.Stat(d); err == nil && !fi.IsDir() {
				errs = append(errs, fmt.Errorf("storage.ipfs.cache_dir %s is not a directory", d))
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}
