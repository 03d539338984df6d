package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dfsreg/dfsreg/internal/metrics/metricstest"
	"github.com/dfsreg/dfsreg/internal/testutil"
)

// tlsFiles writes a CA, a server certificate it signed, and a client CA and
// client certificate; it returns their paths and the client certificate.
type tlsFiles struct {
	ca, cert, key, clientCA string
	serverCA                *testutil.CA
	client, stranger        tls.Certificate
}

func makeTLSFiles(t *testing.T) *tlsFiles {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	serverCA, err := testutil.NewCA("dfsreg e2e server CA")
	must(err)
	clientCA, err := testutil.NewCA("dfsreg e2e client CA")
	must(err)
	otherCA, err := testutil.NewCA("some other CA")
	must(err)
	leaf, err := serverCA.Issue("127.0.0.1", x509.ExtKeyUsageServerAuth)
	must(err)
	f := &tlsFiles{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"),
		clientCA: filepath.Join(dir, "clients.pem"), serverCA: serverCA}
	must(os.WriteFile(f.ca, serverCA.PEM, 0o600))
	must(os.WriteFile(f.cert, leaf.CertPEM, 0o600))
	must(os.WriteFile(f.key, leaf.KeyPEM, 0o600))
	must(os.WriteFile(f.clientCA, clientCA.PEM, 0o600))
	pair := func(ca *testutil.CA) tls.Certificate {
		l, err := ca.Issue("client", x509.ExtKeyUsageClientAuth)
		must(err)
		c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
		must(err)
		return c
	}
	f.client, f.stranger = pair(clientCA), pair(otherCA)
	return f
}

func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// needTool finds a test tool on PATH: a missing one skips the test, or
// fails it under TEST_REQUIRE_TOOLS=1.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TEST_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found on PATH", name)
		}
		t.Skipf("%s not found on PATH (PATH=$PWD/.tools/bin:$PATH)", name)
	}
	return p
}

// TestServeTLS: serve with --tls-cert/--tls-key; crane (trusting the CA
// through SSL_CERT_FILE) pushes and pulls an image over HTTPS; /metrics,
// scraped over HTTPS and parsed, counts what it did; the health endpoints
// answer.
func TestServeTLS(t *testing.T) {
	crane := needTool(t, "crane")
	f := makeTLSFiles(t)
	cfg := &tls.Config{RootCAs: f.serverCA.Pool()}
	s := startServerOpt(t, t.TempDir(), serverOpt{logLevel: "info", tls: cfg, args: []string{"--tls-cert", f.cert, "--tls-key", f.key}})
	hc := tlsClient(cfg)
	if !strings.Contains(s.log.String(), "listen="+s.base) || !strings.Contains(s.log.String(), "tls=on") {
		t.Errorf("startup line does not name the https listener %s:\n%s", s.base, s.log.Tail(2<<10))
	}

	// a layer tarball
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	content := make([]byte, 64<<10) // random: gzip keeps its size
	rand.Read(content)
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write(content)
	tw.Close()
	dir := t.TempDir()
	layer := filepath.Join(dir, "layer.tar")
	if err := os.WriteFile(layer, tb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(s.base, "https://") + "/tls/app:v1"
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(crane, args...)
		cmd.Env = append(hermeticEnv(), "SSL_CERT_FILE="+f.ca, "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("append", "--oci-empty-base", "-f", layer, "-t", ref)
	run("pull", "--format", "oci", ref, filepath.Join(dir, "layout"))
	dgst := run("digest", ref)

	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := hc.Get(s.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" {
			t.Errorf("GET %s over TLS: %s %s", p, resp.Proto, resp.Status)
		}
	}
	fam, err := metricstest.Scrape(hc, s.base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	atLeast := func(want float64, name string, labels ...string) {
		t.Helper()
		if v, _ := fam.Value(name, labels...); v < want {
			t.Errorf("%s%v = %v, want at least %v", name, labels, v, want)
		}
	}
	atLeast(1, "dfsreg_http_requests_total", "route", "manifests", "method", "PUT", "status", "201")
	atLeast(1, "dfsreg_http_requests_total", "route", "manifests", "method", "GET", "status", "200")
	atLeast(1, "dfsreg_http_requests_total", "route", "manifests", "method", "HEAD", "status", "200") // crane digest
	atLeast(1, "dfsreg_http_requests_total", "route", "blobs", "method", "GET", "status", "200")
	atLeast(float64(len(content)), "dfsreg_http_request_bytes_total")
	atLeast(float64(len(content)), "dfsreg_http_response_bytes_total", "route", "blobs")
	atLeast(2, "dfsreg_backend_operation_duration_seconds", "op", "commit")
	atLeast(1, "dfsreg_http_request_duration_seconds", "route", "blobs")
	if v, ok := fam.Value("dfsreg_http_requests_total", "status", "500"); ok && v > 0 {
		t.Errorf("%v requests answered 500", v)
	}
	t.Logf("crane pushed and pulled %s (%s) over TLS; /metrics parsed (%d families)", ref, dgst, len(fam))
}

// TestServeMutualTLS: with --tls-client-ca a client needs a certificate of
// that CA: without one, or with another CA's, the handshake fails.
func TestServeMutualTLS(t *testing.T) {
	f := makeTLSFiles(t)
	withCert := &tls.Config{RootCAs: f.serverCA.Pool(), Certificates: []tls.Certificate{f.client}}
	s := startServerOpt(t, t.TempDir(), serverOpt{logLevel: "info", tls: withCert,
		args: []string{"--tls-cert", f.cert, "--tls-key", f.key, "--tls-client-ca", f.clientCA}})
	if !strings.Contains(s.log.String(), "tls=mtls") {
		t.Errorf("startup line does not say mtls:\n%s", s.log.Tail(2<<10))
	}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"client certificate", withCert, true},
		{"no client certificate", &tls.Config{RootCAs: f.serverCA.Pool()}, false},
		{"certificate of another CA", &tls.Config{RootCAs: f.serverCA.Pool(), Certificates: []tls.Certificate{f.stranger}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []string{"/v2/", "/healthz"} {
				resp, err := tlsClient(tc.cfg).Get(s.base + p)
				if err == nil {
					resp.Body.Close()
				}
				switch {
				case tc.ok && (err != nil || resp.StatusCode != 200):
					t.Errorf("GET %s: %v %v", p, err, resp)
				case !tc.ok && err == nil:
					t.Errorf("GET %s answered %s", p, resp.Status)
				}
			}
		})
	}
}
