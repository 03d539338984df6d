package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string // "" = no file
		env     map[string]string
		flags   []string // --addr / --root, as serve registers them
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(*c, Defaults()) {
				t.Fatalf("got %+v, want the defaults %+v", *c, Defaults())
			}
		}},
		{name: "file", yaml: "addr: 127.0.0.1:1\nroot: /x\nlog:\n  format: json\nuploads:\n  expiry: 90m\n", check: func(t *testing.T, c *Config) {
			if c.Addr != "127.0.0.1:1" || c.Root != "/x" || c.Log.Format != "json" || c.Uploads.Expiry != 90*time.Minute || c.Log.Level != "info" {
				t.Fatalf("got %+v", *c)
			}
		}},
		{name: "env over file", yaml: "addr: 127.0.0.1:1\n", env: map[string]string{"DFSREG_ADDR": "127.0.0.1:2", "DFSREG_HTTP_IDLE_TIMEOUT": "5s"}, check: func(t *testing.T, c *Config) {
			if c.Addr != "127.0.0.1:2" || c.HTTP.IdleTimeout != 5*time.Second {
				t.Fatalf("got %+v", *c)
			}
		}},
		{name: "flag over env", env: map[string]string{"DFSREG_ADDR": "127.0.0.1:2", "DFSREG_ROOT": "/env"}, flags: []string{"--addr=127.0.0.1:3"}, check: func(t *testing.T, c *Config) {
			if c.Addr != "127.0.0.1:3" || c.Root != "/env" {
				t.Fatalf("got %+v", *c)
			}
		}},
		{name: "unknown keys in file", yaml: "bogus: 1\nlog:\n  levle: debug\n", wantErr: "unknown key(s) bogus, log.levle"},
		{name: "map where a value belongs", yaml: "addr:\n  host: x\n", wantErr: "'addr' expected type 'string'"},
		{name: "unknown env", env: map[string]string{"DFSREG_ADDRESS": "x"}, wantErr: "unknown environment variable(s) DFSREG_ADDRESS"},
		{name: "bad level", yaml: "log:\n  level: loud\n", wantErr: `log.level "loud"`},
		{name: "bad backend", env: map[string]string{"DFSREG_STORAGE_BACKEND": "tape"}, wantErr: `storage.backend "tape"`},
		{name: "bad duration", yaml: "uploads:\n  expiry: soon\n", wantErr: "expiry"},
		{name: "zero expiry", yaml: "uploads:\n  expiry: 0s\n", wantErr: "uploads.expiry must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			fs.String("addr", "", "")
			fs.String("root", "", "")
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			flags := map[string]*pflag.Flag{}
			for _, k := range []string{"addr", "root"} {
				if f := fs.Lookup(k); f.Changed {
					flags[k] = f
				}
			}
			if c := loadCase(t, tc.yaml, tc.env, flags, tc.wantErr); c != nil {
				tc.check(t, c)
			}
		})
	}
}

// loadCase loads a configuration from yaml (none when "") with env set
// and flags, as serve would. With wantErr it checks Load fails saying so
// and returns nil; otherwise Load must succeed.
func loadCase(t *testing.T, yaml string, env map[string]string, flags map[string]*pflag.Flag, wantErr string) *Config {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	file := ""
	if yaml != "" {
		file = filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(file, flags)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want it to contain %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnvName(t *testing.T) {
	if got := EnvName("http.read_header_timeout"); got != "DFSREG_HTTP_READ_HEADER_TIMEOUT" {
		t.Fatal(got)
	}
	for _, k := range Keys() {
		if strings.ContainsAny(k, " A-Z") {
			t.Fatalf("key %q", k)
		}
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"1048576", 1 << 20, false}, {"64MiB", 64 << 20, false}, {"10 GiB", 10 << 30, false}, {"5MB", 5e6, false},
		{"1TiB", 1 << 40, false}, {"0", 0, false}, {"-1", 0, true}, {"x", 0, true}, {"5XB", 0, true}, {"9999999TiB", 0, true},
	} {
		var b ByteSize
		err := b.UnmarshalText([]byte(tc.in))
		if (err != nil) != tc.err || (!tc.err && b != tc.want) {
			t.Errorf("%q: %v, %v; want %v (error %v)", tc.in, b, err, tc.want, tc.err)
		}
	}
	if s := ByteSize(64 << 20).String(); s != "64MiB" {
		t.Errorf("String: %s", s)
	}
}

func TestBackendConfig(t *testing.T) {
	t.Setenv("DFSREG_STORAGE_BACKEND", "storj")
	if _, err := Load("", nil); err == nil || !strings.Contains(err.Error(), "storage.storj.bucket is required") {
		t.Fatalf("storj without bucket: %v", err)
	}
	t.Setenv("DFSREG_STORAGE_STORJ_BUCKET", "b")
	t.Setenv("DFSREG_STORAGE_STORJ_ACCESS_GRANT", "secret-grant")
	t.Setenv("DFSREG_STORAGE_STORJ_PART_SIZE", "8MiB")
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage.Storj.PartSize != 8<<20 || c.Storage.Storj.Bucket != "b" {
		t.Fatalf("got %+v", c.Storage.Storj)
	}
	t.Setenv("DFSREG_STORAGE_STORJ_PART_SIZE", "1MiB")
	if _, err := Load("", nil); err == nil || strings.Contains(err.Error(), "secret-grant") || !strings.Contains(err.Error(), "part_size") {
		t.Fatalf("small part size: %v (and the grant must never appear)", err)
	}
}
