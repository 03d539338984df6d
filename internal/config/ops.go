package config

import (
	"errors"
	"fmt"

	"github.com/dfsreg/dfsreg/internal/realip"
)

// validateOps checks the tls, limits and http limit settings.
func (c *Config) validateOps() []error {
	var errs []error
	t := c.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file go together"))
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		errs = append(errs, errors.New("tls.client_ca_file needs tls.cert_file and tls.key_file"))
	}
	l := c.Limits
	if l.Rate < 0 || l.MaxUploads < 0 || l.MaxConnections < 0 || l.MaxManifestPuts < 0 {
		errs = append(errs, errors.New("limits.rate, limits.max_uploads, limits.max_connections and limits.max_manifest_puts cannot be negative"))
	}
	if l.Rate > 0 && l.Burst < 1 {
		errs = append(errs, fmt.Errorf("limits.burst %d: at least 1 with limits.rate", l.Burst))
	}
	if c.HTTP.BodyIdleTimeout < 0 || c.HTTP.WriteIdleTimeout < 0 {
		errs = append(errs, errors.New("http.body_idle_timeout and http.write_idle_timeout cannot be negative"))
	}
	if c.HTTP.MaxHeaderBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("http.max_header_bytes %s: at least 4KiB", c.HTTP.MaxHeaderBytes))
	}
	if _, err := realip.ParseTrusted(c.HTTP.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("http.trusted_proxies: %w", err))
	}
	return errs
}

// TLSEnabled reports whether serve speaks HTTPS.
func (c *Config) TLSEnabled() bool { return c.TLS.CertFile != "" }
