package ipfs_test

// The test harness: a real kubo node (the `ipfs` binary built by
// .ci/install-tools from tools/kubo), initialised with the test profile and
// run offline on loopback. TestMain starts one node shared by most tests;
// tests that kill the node start their own.
//
// When `ipfs` is not on PATH the tests that need it skip with a message, or
// the package fails when TEST_REQUIRE_TOOLS=1 (as `make test` sets).

import (
	"github.com/dfsreg/dfsreg/internal/testutil"

	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const requireToolsEnv = "TEST_REQUIRE_TOOLS"

var (
	ipfsBin string // "" when kubo is not available
	noIPFS  string // why, then
	shared  *kubo  // the node TestMain started
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	bin, err := exec.LookPath("ipfs")
	if err != nil {
		noIPFS = "kubo's `ipfs` is not on PATH (run `make tools` and put .tools/bin on PATH)"
		if os.Getenv(requireToolsEnv) == "1" {
			fmt.Fprintf(os.Stderr, "ipfs backend tests: %s and %s=1\n", noIPFS, requireToolsEnv)
			return 1
		}
		return m.Run()
	}
	ipfsBin = bin
	defer func() {
		if dfsregBin != "" { // built by a test
			os.RemoveAll(filepath.Dir(dfsregBin))
		}
	}()
	k, err := newKubo()
	if err == nil {
		err = k.start()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipfs backend tests: starting kubo: %v\n", err)
		if k != nil {
			k.cleanup()
		}
		return 1
	}
	shared = k
	code := m.Run()
	k.stop()
	k.cleanup()
	return code
}

// needKubo skips the test when kubo is not available (TestMain already
// failed the package if it was required).
func needKubo(t testing.TB) {
	t.Helper()
	if ipfsBin == "" {
		t.Skip(noIPFS)
	}
}

// sharedNode returns the node TestMain started.
func sharedNode(t testing.TB) *kubo {
	needKubo(t)
	return shared
}

// kubo is one `ipfs daemon --offline` with its own repository.
type kubo struct {
	repo   string
	port   int // the RPC API port, fixed so that a restart keeps it
	cmd    *exec.Cmd
	exited chan struct{}
	log    *testutil.SyncBuffer
	api    string // the API multiaddr the daemon wrote to $IPFS_PATH/api
}

// newKubo initialises a repository: the test profile (loopback only, no
// bootstrap peers, no mDNS) on a fixed free port for the API.
func newKubo() (*kubo, error) {
	repo, err := os.MkdirTemp("", "dfsreg-kubo-")
	if err != nil {
		return nil, err
	}
	k := &kubo{repo: repo}
	if out, err := k.ipfs(context.Background(), "init", "--profile", "test"); err != nil {
		return k, fmt.Errorf("ipfs init: %v\n%s", err, out)
	}
	port, err := testutil.FreePort()
	if err != nil {
		return k, err
	}
	k.port = port
	if out, err := k.ipfs(context.Background(), "config", "Addresses.API", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)); err != nil {
		return k, fmt.Errorf("ipfs config: %v\n%s", err, out)
	}
	return k, nil
}

// ipfs runs the CLI against this node's repository (through its API when
// the daemon runs).
func (k *kubo) ipfs(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, ipfsBin, args...)
	cmd.Env = append(os.Environ(), "IPFS_PATH="+k.repo)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return append(out.Bytes(), errb.Bytes()...), err
	}
	return out.Bytes(), nil
}

// start runs the daemon and waits until its API answers.
func (k *kubo) start() error {
	os.Remove(filepath.Join(k.repo, "api"))
	k.log = &testutil.SyncBuffer{}
	cmd := exec.Command(ipfsBin, "daemon", "--offline")
	cmd.Env = append(os.Environ(), "IPFS_PATH="+k.repo, "GOLOG_LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = k.log, k.log
	cmd.SysProcAttr = daemonAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	k.cmd = cmd
	k.exited = make(chan struct{})
	go func() { cmd.Wait(); close(k.exited) }()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-k.exited:
			return fmt.Errorf("ipfs daemon exited: %s\n%s", cmd.ProcessState, k.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		b, err := os.ReadFile(filepath.Join(k.repo, "api"))
		if err != nil {
			continue
		}
		k.api = strings.TrimSpace(string(b))
		if k.answers() {
			return nil
		}
	}
	k.kill()
	return fmt.Errorf("ipfs daemon did not answer in 90s:\n%s", k.log.String())
}

func (k *kubo) answers() bool {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Post(k.url()+"/api/v0/version", "", nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// url is the API as a URL.
func (k *kubo) url() string { return "http://127.0.0.1:" + strconv.Itoa(k.port) }

// kill sends SIGKILL (no clean shutdown) and waits for the exit.
func (k *kubo) kill() {
	if k.cmd == nil {
		return
	}
	syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
	<-k.exited
	k.cmd = nil
}

// stop shuts the daemon down cleanly (SIGTERM), killing it after 20 s.
func (k *kubo) stop() {
	if k.cmd == nil {
		return
	}
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
		k.cmd = nil
	case <-time.After(20 * time.Second):
		k.kill()
	}
}

func (k *kubo) cleanup() { os.RemoveAll(k.repo) }

// ownNode starts a node for one test, stopped and removed at its end.
func ownNode(t *testing.T) *kubo {
	t.Helper()
	needKubo(t)
	k, err := newKubo()
	if err != nil {
		if k != nil {
			k.cleanup()
		}
		t.Fatal(err)
	}
	t.Cleanup(k.cleanup)
	if err := k.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.stop)
	return k
}

// proxy is a TCP relay in front of a node's API. It counts the bytes the
// node sends, and can stop answering (the node unreachable) and resume.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool

	fromNode atomic.Int64
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) url() string { return "http://" + p.addr }

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
}

func (p *proxy) relay(c net.Conn) {
	n, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		c.Close()
		n.Close()
		return
	}
	p.conns[c], p.conns[n] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(n, c); n.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() {
		io.Copy(c, countingReader{n, &p.fromNode})
		c.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	<-done
	<-done
	c.Close()
	n.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, n)
	p.mu.Unlock()
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	return k, err
}

// down closes the listener and every relayed connection: connections are
// refused until up.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// up listens again on the same address.
func (p *proxy) up() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy up: %v", err)
	}
	p.serve(ln)
}
