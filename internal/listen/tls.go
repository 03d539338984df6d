package listen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
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
// certificate is re-read when the certificate or key file changes. A
// certificate that fails to load on reload is reported to onReloadErr and the
// previous one stays in use.
func TLSConfig(f TLSFiles, onReloadErr func(error)) (*tls.Config, error) {
	r := &certReloader{certFile: f.CertFile, keyFile: f.KeyFile, onErr: onReloadErr}
	if err := r.load(); err != nil {
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
		GetCertificate:   r.get,
		NextProtos:       []string{"h2", "http/1.1"},
	}
	if f.ClientCAFile != "" {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		ca := &caReloader{file: f.ClientCAFile, onErr: onReloadErr, base: c}
		if err := ca.load(); err != nil {
			return nil, err
		}
		c.ClientCAs = ca.cfg.ClientCAs
		c.GetConfigForClient = ca.configFor
	}
	return c, nil
}

// caReloader keeps the client CAs current: each handshake gets the server
// config with the CAs of the moment, and the file is re-read when it
// changes (checked at most once per checkEvery, on a handshake). A file
// that fails to load is reported once per change and the previous CAs stay.
type caReloader struct {
	file  string
	onErr func(error)
	base  *tls.Config

	mu      sync.Mutex
	cfg     *tls.Config // base with the current CAs
	stamp   fileStamp
	failed  fileStamp
	checked time.Time
}

func (r *caReloader) load() error {
	now, err := stampOf(r.file)
	if err != nil {
		return fmt.Errorf("tls client CA: %w", err)
	}
	if r.cfg != nil && (r.stamp == now || r.failed == now) {
		return nil
	}
	pem, err := os.ReadFile(r.file)
	if err != nil {
		return fmt.Errorf("tls client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		r.failed = now
		return fmt.Errorf("tls client CA %s: no PEM certificate in it", r.file)
	}
	c := r.base.Clone()
	c.GetConfigForClient = nil
	c.ClientCAs = pool
	r.cfg, r.stamp = c, now
	return nil
}

func (r *caReloader) configFor(*tls.ClientHelloInfo) (*tls.Config, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= checkEvery {
		r.checked = now
		if err := r.load(); err != nil && r.onErr != nil {
			r.onErr(err)
		}
	}
	return r.cfg, nil
}

// certReloader serves the key pair from two files, re-reading them when
// either file's modification time or size changes. Files are checked at most
// once per checkEvery, on a handshake.
type certReloader struct {
	certFile, keyFile string
	onErr             func(error)

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
	// failed is the pair of stamps that last failed to load: it is not
	// read (nor reported) again until one of the files changes.
	failed [2]fileStamp
}

// checkEvery bounds how often a handshake stats the files.
const checkEvery = time.Second

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// load reads the key pair if either file changed since the last load.
func (r *certReloader) load() error {
	cs, err1 := stampOf(r.certFile)
	ks, err2 := stampOf(r.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	now := [2]fileStamp{cs, ks}
	if r.cert != nil && (r.stamp == now || r.failed == now) {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.failed = now
		return fmt.Errorf("tls certificate %s, key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.stamp = &cert, [2]fileStamp{cs, ks}
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= checkEvery {
		r.checked = now
		// A half-written pair (cert replaced, key not yet) fails to
		// load: keep the old one and try again on a later handshake.
		if err := r.load(); err != nil && r.onErr != nil {
			r.onErr(err)
		}
	}
	return r.cert, nil
}
