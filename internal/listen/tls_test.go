package listen

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfsreg/dfsreg/internal/testutil"
)

func newCA(t *testing.T, name string) *testutil.CA {
	t.Helper()
	ca, err := testutil.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue signs a leaf certificate; it returns the PEM of certificate and key.
func issue(t *testing.T, ca *testutil.CA, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, serialNo int64) {
	t.Helper()
	l, err := ca.Issue(cn, usage)
	if err != nil {
		t.Fatal(err)
	}
	return l.CertPEM, l.KeyPEM, l.Serial
}

// clientCert is a key pair named "client" that ca signed for usage.
func clientCert(t *testing.T, ca *testutil.CA, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	cp, kp, _ := issue(t, ca, "client", usage)
	cert, err := tls.X509KeyPair(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveTLS serves a handler answering "ok" on a Listen listener with tc.
func serveTLS(t *testing.T, tc *tls.Config) *Listener {
	t.Helper()
	ln, err := Listen(Options{Addr: "127.0.0.1:0", MaxConnections: 16, TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.Proto)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}

func client(roots *x509.CertPool, certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy:             nil,
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{RootCAs: roots, Certificates: certs},
		DisableKeepAlives: true,
	}}
}

// get fetches url and returns the body and the serial of the server's
// certificate.
func get(c *http.Client, url string) (string, int64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	return string(b), resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
}

func TestTLSServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "dfsreg test CA")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1, k1, s1 := issue(t, ca, "dfsreg", x509.ExtKeyUsageServerAuth)
	write(t, certFile, c1)
	write(t, keyFile, k1)
	var reloadErrs atomic.Int32
	tc, err := TLSConfig(TLSFiles{CertFile: certFile, KeyFile: keyFile}, func(error) { reloadErrs.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	ln := serveTLS(t, tc)
	if ln.Scheme != "https" || !strings.HasPrefix(ln.URL(), "https://127.0.0.1:") {
		t.Fatalf("listener URL %s", ln.URL())
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	hc := client(roots)
	body, got, err := get(hc, ln.URL()+"/")
	if err != nil {
		t.Fatal(err)
	}
	if got != s1 || body != "ok HTTP/2.0" {
		t.Fatalf("served serial %d body %q, want %d over HTTP/2", got, body, s1)
	}

	// A client that does not trust the CA is refused.
	if _, _, err := get(client(x509.NewCertPool()), ln.URL()+"/"); err == nil {
		t.Fatal("a client without the CA connected")
	}
	// TLS 1.1 is refused.
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}

	// A half-replaced pair (new cert, old key) is not taken: the old
	// certificate stays in use and the failure is reported.
	c2, k2, s2 := issue(t, ca, "dfsreg", x509.ExtKeyUsageServerAuth)
	time.Sleep(checkEvery + 50*time.Millisecond)
	write(t, certFile, c2)
	if _, got, err = get(hc, ln.URL()+"/"); err != nil || got != s1 {
		t.Fatalf("with a mismatched pair: serial %d, err %v; want the old %d", got, err, s1)
	}
	if reloadErrs.Load() == 0 {
		t.Error("a mismatched pair was not reported")
	}
	// Reported once, not at every check while it stays on disk.
	time.Sleep(checkEvery + 50*time.Millisecond)
	if _, got, err = get(hc, ln.URL()+"/"); err != nil || got != s1 {
		t.Fatalf("with a mismatched pair: serial %d, err %v; want the old %d", got, err, s1)
	}
	if n := reloadErrs.Load(); n != 1 {
		t.Errorf("an unchanged mismatched pair was reported %d times, want once", n)
	}
	// Both replaced: the new certificate is served without a restart.
	time.Sleep(checkEvery + 50*time.Millisecond)
	write(t, keyFile, k2)
	deadline := time.Now().Add(5 * time.Second)
	for got != s2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if _, got, err = get(hc, ln.URL()+"/"); err != nil {
			t.Fatal(err)
		}
	}
	if got != s2 {
		t.Fatalf("after replacing the files the server still serves serial %d, want %d", got, s2)
	}
}

// mtlsServer serves with a certificate of a new server CA and requires
// client certificates of clientCA (the file it returns); roots trust the
// server, serial is its certificate's.
func mtlsServer(t *testing.T, clientCA *testutil.CA, onReloadErr func(error)) (ln *Listener, roots *x509.CertPool, serial int64, caFile string) {
	t.Helper()
	dir := t.TempDir()
	serverCA := newCA(t, "server CA")
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "clients.pem")
	c, k, serial := issue(t, serverCA, "dfsreg", x509.ExtKeyUsageServerAuth)
	write(t, certFile, c)
	write(t, keyFile, k)
	write(t, caFile, clientCA.PEM)
	tc, err := TLSConfig(TLSFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, onReloadErr)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	return serveTLS(t, tc), roots, serial, caFile
}

func TestMutualTLS(t *testing.T) {
	clientCA, otherCA := newCA(t, "client CA"), newCA(t, "other CA")
	ln, roots, _, _ := mtlsServer(t, clientCA, nil)
	for _, tt := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"with a client certificate", []tls.Certificate{clientCert(t, clientCA, x509.ExtKeyUsageClientAuth)}, true},
		{"without a client certificate", nil, false},
		{"with a certificate of another CA", []tls.Certificate{clientCert(t, otherCA, x509.ExtKeyUsageClientAuth)}, false},
		{"with a server-only certificate of the CA", []tls.Certificate{clientCert(t, clientCA, x509.ExtKeyUsageServerAuth)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, _, err := get(client(roots, tt.certs...), ln.URL()+"/")
			if tt.ok && (err != nil || !strings.HasPrefix(body, "ok")) {
				t.Fatalf("refused: %v %q", err, body)
			}
			if !tt.ok && err == nil {
				t.Fatalf("served %q", body)
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "CA")
	c, k, _ := issue(t, ca, "dfsreg", x509.ExtKeyUsageServerAuth)
	certFile, keyFile, junk := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), filepath.Join(dir, "junk.pem")
	write(t, certFile, c)
	write(t, keyFile, k)
	write(t, junk, []byte("not pem"))
	for _, f := range []TLSFiles{
		{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: keyFile},
		{CertFile: certFile, KeyFile: certFile},
		{CertFile: certFile, KeyFile: keyFile, ClientCAFile: junk},
		{CertFile: certFile, KeyFile: keyFile, ClientCAFile: filepath.Join(dir, "missing.pem")},
	} {
		if _, err := TLSConfig(f, nil); err == nil {
			t.Errorf("TLSConfig(%+v) succeeded", f)
		}
	}
}

func TestMaxConnections(t *testing.T) {
	ln, err := Listen(Options{Addr: "127.0.0.1:0", MaxConnections: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	var held []net.Conn
	for range 2 {
		select {
		case c := <-accepted:
			held = append(held, c)
		case <-time.After(5 * time.Second):
			t.Fatal("the first two connections were not accepted")
		}
	}
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted over the bound of 2")
	case <-time.After(200 * time.Millisecond):
	}
	held[0].Close() // a place frees up
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}
	held[1].Close()
	if ln.Scheme != "http" {
		t.Errorf("scheme %q", ln.Scheme)
	}
	if _, err := Listen(Options{Addr: ln.Addr().String()}); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("listening on a taken address: %v", err)
	}

}

// TestMutualTLSReloadsCA: a replaced client CA file takes effect without a
// restart; one that does not parse is reported once and the CAs before it
// stay.
func TestMutualTLSReloadsCA(t *testing.T) {
	oldCA, newCAs := newCA(t, "old client CA"), newCA(t, "new client CA")
	var reloadErrs atomic.Int32
	ln, roots, serial, caFile := mtlsServer(t, oldCA, func(error) { reloadErrs.Add(1) })
	clientOf := func(ca *testutil.CA) *http.Client {
		return client(roots, clientCert(t, ca, x509.ExtKeyUsageClientAuth))
	}
	oldClient, newClient := clientOf(oldCA), clientOf(newCAs)
	accepted := func(hc *http.Client) bool {
		body, got, err := get(hc, ln.URL()+"/")
		if err == nil && (got != serial || !strings.HasPrefix(body, "ok")) {
			t.Fatalf("served serial %d body %q", got, body)
		}
		return err == nil
	}
	if !accepted(oldClient) || accepted(newClient) {
		t.Fatal("at start: want the old CA's client accepted and the new one's refused")
	}

	time.Sleep(checkEvery + 50*time.Millisecond)
	write(t, caFile, newCAs.PEM)
	deadline := time.Now().Add(5 * time.Second)
	for !accepted(newClient) {
		if time.Now().After(deadline) {
			t.Fatal("the new CA's client is still refused after the CA file was replaced")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if accepted(oldClient) {
		t.Fatal("the old CA's client is still accepted after the CA file was replaced")
	}

	// A broken file: reported once, the new CA stays in force.
	time.Sleep(checkEvery + 50*time.Millisecond)
	write(t, caFile, []byte("not pem"))
	for range 2 {
		if !accepted(newClient) || accepted(oldClient) {
			t.Fatal("with a broken CA file: want the CA before it in force")
		}
		time.Sleep(checkEvery + 50*time.Millisecond)
	}
	if n := reloadErrs.Load(); n != 1 {
		t.Errorf("an unchanged broken CA file was reported %d times, want once", n)
	}
}
