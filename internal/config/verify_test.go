package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	grant := filepath.Join(dir, "grant")
	empty := filepath.Join(dir, "empty")
	notDir := filepath.Join(dir, "file")
	for p, body := range map[string]string{grant: "1Abc\n", empty: "\n", notDir: "x"} {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		yaml     string
		env      map[string]string
		wantErr  []string // every one must be in the error
		fileKeys []string
		envVars  []string
	}{
		{name: "empty file", yaml: "", fileKeys: nil},
		{name: "filesystem", yaml: "addr: 127.0.0.1:5000\nroot: " + dir + "\nlog: {format: json}\n",
			fileKeys: []string{"addr", "log.format", "root"}},
		{name: "env reported", yaml: "root: " + dir + "\n", env: map[string]string{"DFSREG_ADDR": "127.0.0.1:1"},
			fileKeys: []string{"root"}, envVars: []string{"DFSREG_ADDR"}},
		{name: "storj with grant file", yaml: "storage: {backend: storj, storj: {bucket: b, access_grant_file: " + grant + "}}\n",
			fileKeys: []string{"storage.backend", "storage.storj.access_grant_file", "storage.storj.bucket"}},
		{name: "ipfs url", yaml: "storage: {backend: ipfs, ipfs: {api: 'http://127.0.0.1:5001'}}\n",
			fileKeys: []string{"storage.backend", "storage.ipfs.api"}},
		// Loader errors come first, all of them.
		{name: "unknown key", yaml: "adr: x\n", wantErr: []string{"unknown key(s) adr"}},
		{name: "semantic", yaml: "storage: {backend: storj}\nuploads: {expiry: 0s}\n", wantErr: []string{
			"storage.storj.bucket is required", "give one of storage.storj.access_grant", "uploads.expiry must be positive"}},
		{name: "http timeout zero", yaml: "http: {idle_timeout: 0s}\n", wantErr: []string{"http.read_header_timeout, http.idle_timeout and http.shutdown_timeout must be positive"}},
		// Then the schema's stricter types and the checks outside the file, together.
		{name: "types and checks", yaml: "addr: 5000\nroot: " + notDir + "\nuploads: {expiry: 90}\n", wantErr: []string{
			"/addr", "/uploads/expiry", `addr "5000": address 5000: missing port`, "root " + notDir + " is not a directory"}},
		{name: "grant file missing", yaml: "storage: {backend: storj, storj: {bucket: b, access_grant_file: " + dir + "/nope}}\n",
			wantErr: []string{"storage.storj.access_grant_file: open " + dir + "/nope"}},
		{name: "grant file empty", yaml: "storage: {backend: storj, storj: {bucket: b, access_grant_file: " + empty + "}}\n",
			wantErr: []string{"access_grant_file " + empty + " is empty"}},
		{name: "ipfs api form", yaml: "storage: {backend: ipfs, ipfs: {api: '127.0.0.1:5001', cache_dir: " + notDir + "}}\n",
			wantErr: []string{`storage.ipfs.api "127.0.0.1:5001": want a multiaddr`, "cache_dir " + notDir + " is not a directory"}},
		{name: "addr without port", yaml: "addr: 'localhost:'\n", wantErr: []string{`addr "localhost:": no port`}},
		{name: "not yaml", yaml: "addr: [\n", wantErr: []string{"c.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			file := writeFile(t, "c.yaml", tc.yaml)
			s, err := Verify(file)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\ndoes not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.File != file || !slices.Equal(s.FileKeys, tc.fileKeys) || !slices.Equal(s.EnvVars, tc.envVars) {
				t.Errorf("summary %+v, want file keys %v, env %v", s, tc.fileKeys, tc.envVars)
			}
		})
	}
	if _, err := Verify(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestIsSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		tag  reflect.StructTag
		want bool
	}{
		{"access_grant", "", true},
		{"access_grant_file", "", false},
		{"password", "", true},
		{"htpasswd_path", "", false},
		{"token_key", "", true},
		{"client_secret", "", true},
		{"private_key_file", "", false},
		{"signing_key", "", true},
		{"key", "", true},
		{"keyring_dir", "", false},
		{"bucket", "", false},
		{"api", `secret:"true"`, true},
	} {
		if got := IsSecret(tc.name, tc.tag); got != tc.want {
			t.Errorf("IsSecret(%q, %q) = %v, want %v", tc.name, tc.tag, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	c := Defaults()
	c.Storage.Storj.AccessGrant = "1SecretGrant"
	c.Storage.Storj.AccessGrantFile = "/etc/grant"
	r := Redact(c)
	if r.Storage.Storj.AccessGrant != Redacted || r.Storage.Storj.AccessGrantFile != "/etc/grant" || c.Storage.Storj.AccessGrant != "1SecretGrant" {
		t.Fatalf("Redact: %+v (original %+v)", r.Storage.Storj, c.Storage.Storj)
	}
	b, err := MarshalYAML(r)
	if err != nil || strings.Contains(string(b), "1SecretGrant") || !strings.Contains(string(b), "access_grant: <redacted>") {
		t.Fatalf("MarshalYAML(Redact):\n%s\n%v", b, err)
	}
	if !reflect.DeepEqual(Redact(Defaults()), Defaults()) {
		t.Fatal("Redact changed a configuration without secrets (empty secrets stay empty)")
	}
}
