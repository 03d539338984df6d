package cmd

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/dfsreg/dfsreg/internal/auth"
	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/gc"
	"github.com/dfsreg/dfsreg/internal/health"
	"github.com/dfsreg/dfsreg/internal/logbuf"
	"github.com/dfsreg/dfsreg/internal/metrics"
	"github.com/dfsreg/dfsreg/internal/realip"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

func newServeCmd() *cobra.Command {
	var cf *configFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the OCI registry",
		Long: `Run the OCI Distribution Spec v1.1 registry on the store.

With no configuration it listens on :5000 with the store in ./dfsreg-data.
--addr/--root (or DFSREG_ADDR/DFSREG_ROOT) choose both; --config reads a YAML
file whose keys are those of "dfsreg config" (unknown keys are errors).

--tls-cert/--tls-key serve HTTPS, --tls-client-ca requires client
certificates (all three files are re-read when they change). /healthz,
/readyz and /metrics answer beside the API without authentication.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			return runServe(cmd.Context(), c, cmd)
		},
	}
	cf = addConfigFlags(cmd, "addr", "root", "log.level", "log.format", "auth.htpasswd.path", "tls.cert_file", "tls.key_file", "tls.client_ca_file")
	return cmd
}

// logEvery bounds how late serve's log lines reach stderr.
const logEvery = 100 * time.Millisecond

func runServe(ctx context.Context, c *config.Config, cmd *cobra.Command) error {
	// Request log lines reach stderr in batches, at most logEvery late:
	// one write per request cost a busy server several percent of its
	// CPU. Every other line (startup, warnings, errors, failed requests)
	// is written at once, after the batch before it.
	lw := logbuf.New(cmd.ErrOrStderr(), logEvery)
	defer lw.Close()
	log := slog.New(logbuf.Handler(newLogger(lw, c).Handler(), lw, func(r slog.Record) bool {
		return r.Message == serve.RequestLogMessage && r.Level < slog.LevelWarn
	}))
	var mx *metrics.Metrics
	var wrap func(store.Backend) store.Backend
	sopts := serve.Options{Logger: log, Limits: serveLimits(c)}
	if c.Metrics.Enabled {
		mx = metrics.New()
		wrap, sopts.Observer = mx.WrapBackend, mx
	}
	st, err := openStoreWith(ctx, c, wrap)
	if err != nil {
		return err
	}
	defer st.Close()
	if c.Auth.Enabled() {
		a, err := auth.New(c.Auth, log)
		if err != nil {
			return err
		}
		sopts.Authorizer = a
		log.Info("authentication on", "scheme", a.Mode(), "anonymous_pull", c.Auth.AnonymousPull)
	}
	hopts := health.Options{Ready: st.Ping, OnNotReady: func(err error) { log.Warn("not ready", "err", err) }}
	if mx != nil {
		hopts.Metrics = mx.Handler()
	}
	trusted, err := realip.ParseTrusted(c.HTTP.TrustedProxies) // validated with the config
	if err != nil {
		return err
	}
	handler := realip.Handler(trusted, health.Handler(serve.WithRequestLog(log, serve.New(st, sopts)), hopts))
	ln, err := openListener(c, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: c.HTTP.ReadHeaderTimeout,
		IdleTimeout:       c.HTTP.IdleTimeout,
		MaxHeaderBytes:    int(c.HTTP.MaxHeaderBytes),
		ErrorLog:          nil,
	}
	logStartup(log, c, ln)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	go expireUploads(ctx, st, c.Uploads.Expiry, log)
	if c.GC.Interval > 0 {
		// Stopped and waited for before the store closes (the deferred
		// Close runs after this).
		gctx, stopGC := context.WithCancel(ctx)
		gcDone := make(chan struct{})
		go func() { defer close(gcDone); collectGarbage(gctx, st, c, log, mx) }()
		defer func() { stopGC(); <-gcDone }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", c.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Grace is over: cut what is left. Uploads cut here resume later;
		// the store refuses writes from handlers still running once it is
		// closed (nothing is half-acknowledged).
		log.Warn("shutdown grace period over: closing remaining connections")
		srv.Close()
	}
	log.Info("stopped")
	return nil
}

// expireUploads ends idle upload sessions, checking a few times per expiry
// period (at most every 10 minutes).
func expireUploads(ctx context.Context, st *store.Store, expiry time.Duration, log *slog.Logger) {
	t := time.NewTicker(min(expiry/4, 10*time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := st.ExpireUploads(ctx, expiry)
			if err != nil && ctx.Err() == nil {
				log.Warn("expiring upload sessions", "err", err)
			} else if n > 0 {
				log.Info("expired idle upload sessions", "count", n, "idle", expiry)
			}
		}
	}
}

// collectGarbage runs the collection of `dfsreg gc` every gc.interval, with
// the configuration's gc settings, beside the requests being served.
func collectGarbage(ctx context.Context, st *store.Store, c *config.Config, log *slog.Logger, mx *metrics.Metrics) {
	t := time.NewTicker(c.GC.Interval)
	defer t.Stop()
	opts := gcOptions(c)
	opts.UploadExpiry = 0 // expireUploads does it
	opts.Logger = log
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			rep, err := gc.Run(ctx, st, opts)
			if err != nil && ctx.Err() == nil {
				log.Warn("gc failed", "err", err)
			}
			if mx != nil && ctx.Err() == nil {
				mx.GCRun(time.Since(start), err)
			}
			if rep != nil && ctx.Err() == nil {
				tot := rep.Totals
				level := slog.LevelDebug // nothing to say
				if !tot.Empty() || rep.UploadsExpired > 0 || len(rep.Failed) > 0 {
					level = slog.LevelInfo
				}
				log.Log(ctx, level, "gc", "manifests", tot.Manifests, "partitions", tot.Partitions, "blob_links", tot.Links,
					"blobs", tot.Blobs, "bytes_freed", tot.BlobBytes, "uploads_expired", rep.UploadsExpired,
					"failed", len(rep.Failed), "took", rep.Durations.Total)
			}
		}
	}
}
