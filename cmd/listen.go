package cmd

import (
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/listen"
	"github.com/dfsreg/dfsreg/internal/serve"
)

// serveLimits are the API's limits from the configuration.
func serveLimits(c *config.Config) serve.Limits {
	return serve.Limits{Rate: c.Limits.Rate, Burst: c.Limits.Burst, MaxUploads: c.Limits.MaxUploads,
		MaxManifestPuts: c.Limits.MaxManifestPuts, BodyIdleTimeout: c.HTTP.BodyIdleTimeout}
}

// openListener opens serve's listener: TLS when configured, connections
// bounded by limits.max_connections.
func openListener(c *config.Config, log *slog.Logger) (*listen.Listener, error) {
	o := listen.Options{Addr: c.Addr, MaxConnections: c.Limits.MaxConnections, WriteIdleTimeout: c.HTTP.WriteIdleTimeout,
		OnError: func(err error) { log.Warn("serving connections without the write idle timeout", "err", err) }}
	if c.TLSEnabled() {
		tc, err := listen.TLSConfig(listen.TLSFiles{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, ClientCAFile: c.TLS.ClientCAFile},
			func(err error) {
				log.Warn("tls: a changed file did not load; keeping the previous certificate or client CAs", "err", err)
			})
		if err != nil {
			return nil, err
		}
		o.TLS = tc
	}
	return listen.Listen(o)
}

// logStartup says where the store is, which backend holds the blobs, and
// where serve listens.
func logStartup(log *slog.Logger, c *config.Config, ln *listen.Listener) {
	root, err := filepath.Abs(c.Root)
	if err != nil {
		root = c.Root
	}
	tlsMode := "off"
	switch {
	case c.TLS.ClientCAFile != "":
		tlsMode = "mtls"
	case c.TLSEnabled():
		tlsMode = "on"
	}
	metricsURL := "off"
	if c.Metrics.Enabled {
		metricsURL = ln.URL() + "/metrics"
	}
	attrs := []any{"listen", ln.URL(), "root", root, "backend", c.Storage.Backend, "tls", tlsMode,
		"metrics", metricsURL, "health", ln.URL() + "/healthz", "max_connections", c.Limits.MaxConnections,
		"max_uploads", c.Limits.MaxUploads, "rate_per_client", c.Limits.Rate}
	if len(c.HTTP.TrustedProxies) > 0 {
		attrs = append(attrs, "trusted_proxies", strings.Join(c.HTTP.TrustedProxies, ","))
	}
	log.Info("dfsreg serving", attrs...)
}
