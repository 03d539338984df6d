package listen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// TLSFiles names the PEM files of a TLS listener.
type TLSFiles struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, makes every client present a certificate
	// signed by one of its CAs (mTLS).
	ClientCAFile string
}

// TLSConfig returns a server tls.Config with modern defaults (TLS 1.2 or
// later, AEAD cipher suites with forward secrecy, X25519 and P-256) whose
// certificate, and client CAs with mTLS, are re-read when their files
// change. A file that fails to load on reload is reported to onReloadErr
// and what it held before stays in use.
func TLSConfig(f TLSFiles, onReloadErr func(error)) (*tls.Config, error) {
	cert := &watched[*tls.Certificate]{what: "tls certificate", paths: []string{f.CertFile, f.KeyFile}, onErr: onReloadErr,
		parse: func() (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("tls certificate %s, key %s: %w", f.CertFile, f.KeyFile, err)
			}
			return &c, nil
		}}
	if err := cert.load(); err != nil {
		return nil, err
	}
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// For TLS 1.2; TLS 1.3 suites are not configurable and all good.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		// A half-written pair (cert replaced, key not yet) fails to load:
		// the old one is served and the pair tried again on a later
		// handshake.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.current(), nil },
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if f.ClientCAFile != "" {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		// Each handshake gets this config with the CAs of the moment.
		cas := &watched[*tls.Config]{what: "tls client CA", paths: []string{f.ClientCAFile}, onErr: onReloadErr,
			parse: func() (*tls.Config, error) {
				pem, err := os.ReadFile(f.ClientCAFile)
				if err != nil {
					return nil, fmt.Errorf("tls client CA: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("tls client CA %s: no PEM certificate in it", f.ClientCAFile)
				}
				with := c.Clone()
				with.GetConfigForClient = nil
				with.ClientCAs = pool
				return with, nil
			}}
		if err := cas.load(); err != nil {
			return nil, err
		}
		c.ClientCAs = cas.val.ClientCAs
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return cas.current(), nil }
	}
	return c, nil
}

// watched is a value loaded from files (parse) and loaded again when any
// of them changes (modification time or size), checked at most once per
// checkEvery, on a handshake. A change that fails to load is reported once
// to onErr, not again until a file changes again, and the value before it
// stays.
type watched[T any] struct {
	what  string // for errors
	paths []string
	parse func() (T, error)
	onErr func(error)

	mu      sync.Mutex
	val     T
	loaded  bool
	stamp   []fileStamp // of the files val was loaded from
	failed  []fileStamp // of the files that last failed to load
	checked time.Time
}

// checkEvery bounds how often a handshake stats the files.
const checkEvery = time.Second

type fileStamp struct {
	mod  time.Time
	size int64
}

// load parses the files if any changed since the last load.
func (w *watched[T]) load() error {
	now := make([]fileStamp, len(w.paths))
	var errs []error
	for i, p := range w.paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		now[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", w.what, err)
	}
	if w.loaded && (slices.Equal(w.stamp, now) || slices.Equal(w.failed, now)) {
		return nil
	}
	v, err := w.parse()
	if err != nil {
		w.failed = now
		return err
	}
	w.val, w.stamp, w.loaded = v, now, true
	return nil
}

// current returns the value, loading it again first if a file changed and
// the last check is checkEvery old.
func (w *watched[T]) current() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := time.Now(); now.Sub(w.checked) >= checkEvery {
		w.checked = now
		if err := w.load(); err != nil && w.onErr != nil {
			w.onErr(err)
		}
	}
	return w.val
}
