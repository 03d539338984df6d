package config

import (
	"testing"
	"time"
)

func TestOpsConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		env     map[string]string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c *Config) {
			if c.TLSEnabled() || !c.Metrics.Enabled || c.Limits.Rate != 0 || c.Limits.MaxUploads != 128 ||
				c.Limits.MaxConnections != 4096 || c.Limits.MaxManifestPuts != 16 || c.HTTP.BodyIdleTimeout != time.Minute || c.HTTP.WriteIdleTimeout != time.Minute || c.HTTP.MaxHeaderBytes != 64<<10 || c.HTTP.TrustedProxies != nil {
				t.Fatalf("got %+v", *c)
			}
		}},
		{name: "file", yaml: "tls:\n  cert_file: c.pem\n  key_file: k.pem\n  client_ca_file: ca.pem\nmetrics:\n  enabled: false\n" +
			"limits:\n  rate: 20.5\n  burst: 40\n  max_uploads: 8\n  max_connections: 100\n  max_manifest_puts: 2\nhttp:\n  body_idle_timeout: 10s\n  max_header_bytes: 16KiB\n",
			check: func(t *testing.T, c *Config) {
				want := Limits{Rate: 20.5, Burst: 40, MaxUploads: 8, MaxConnections: 100, MaxManifestPuts: 2}
				if !c.TLSEnabled() || c.TLS.ClientCAFile != "ca.pem" || c.Metrics.Enabled || c.Limits != want ||
					c.HTTP.BodyIdleTimeout != 10*time.Second || c.HTTP.MaxHeaderBytes != 16<<10 {
					t.Fatalf("got %+v", *c)
				}
			}},
		{name: "env", env: map[string]string{"DFSREG_TLS_CERT_FILE": "c.pem", "DFSREG_TLS_KEY_FILE": "k.pem", "DFSREG_LIMITS_RATE": "5",
			"DFSREG_METRICS_ENABLED": "false", "DFSREG_HTTP_BODY_IDLE_TIMEOUT": "0s"},
			check: func(t *testing.T, c *Config) {
				if c.TLS.CertFile != "c.pem" || c.Limits.Rate != 5 || c.Metrics.Enabled || c.HTTP.BodyIdleTimeout != 0 {
					t.Fatalf("got %+v", *c)
				}
			}},
		{name: "trusted proxies, file", yaml: "http:\n  trusted_proxies: [10.0.0.0/8, 192.0.2.7]\n", check: func(t *testing.T, c *Config) {
			if len(c.HTTP.TrustedProxies) != 2 || c.HTTP.TrustedProxies[0] != "10.0.0.0/8" || c.HTTP.TrustedProxies[1] != "192.0.2.7" {
				t.Fatalf("got %q", c.HTTP.TrustedProxies)
			}
		}},
		{name: "trusted proxies, env", env: map[string]string{"DFSREG_HTTP_TRUSTED_PROXIES": "10.0.0.0/8,2001:db8::/32"}, check: func(t *testing.T, c *Config) {
			if len(c.HTTP.TrustedProxies) != 2 || c.HTTP.TrustedProxies[1] != "2001:db8::/32" {
				t.Fatalf("got %q", c.HTTP.TrustedProxies)
			}
		}},
		{name: "trusted proxy not an address", yaml: "http:\n  trusted_proxies: [proxy.example]\n", wantErr: `http.trusted_proxies: "proxy.example" is neither`},
		{name: "cert without key", yaml: "tls:\n  cert_file: c.pem\n", wantErr: "tls.cert_file and tls.key_file go together"},
		{name: "client CA without cert", yaml: "tls:\n  client_ca_file: ca.pem\n", wantErr: "tls.client_ca_file needs"},
		{name: "negative limit", env: map[string]string{"DFSREG_LIMITS_MAX_UPLOADS": "-1"}, wantErr: "cannot be negative"},
		{name: "rate without burst", yaml: "limits:\n  rate: 10\n  burst: 0\n", wantErr: "limits.burst 0"},
		{name: "tiny header limit", yaml: "http:\n  max_header_bytes: 100\n", wantErr: "at least 4KiB"},
		{name: "typo", yaml: "limits:\n  max_upload: 3\n", wantErr: "unknown key(s) limits.max_upload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := loadCase(t, tc.yaml, tc.env, nil, tc.wantErr); c != nil {
				tc.check(t, c)
			}
		})
	}
}
