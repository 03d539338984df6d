package e2e

import (
	"github.com/dfsreg/dfsreg/internal/testutil"

	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dfsregBin is the dfsreg binary TestMain built.
var dfsregBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dfsreg-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "dfsreg")
	// go test puts its own toolchain first on PATH.
	build := exec.Command("go", "build", "-o", bin, "github.com/dfsreg/dfsreg")
	build.Dir = filepath.Join("..", "..") // the module root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building dfsreg: %v\n%s", err, out)
		return 1
	}
	dfsregBin = bin
	return m.Run()
}

// server is one `dfsreg serve` process.
type server struct {
	t    *testing.T
	root string
	base string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	log  *testutil.SyncBuffer

	exited chan struct{}
	state  *os.ProcessState // valid once exited is closed
}

type serverOpt struct {
	logLevel string
	env      []string // extra KEY=VALUE settings, e.g. DFSREG_HTTP_SHUTDOWN_TIMEOUT
	args     []string // extra flags, e.g. --tls-cert
	// tls, when set, is the client configuration to reach a server started
	// with TLS flags; base is then https://.
	tls *tls.Config
}

// startServer starts dfsreg serve on root and a free loopback port, and
// returns once GET /v2/ answers 200. The process is killed when the test
// ends, if it still runs.
func startServer(t *testing.T, root string) *server {
	return startServerOpt(t, root, serverOpt{})
}

func startServerOpt(t *testing.T, root string, o serverOpt) *server {
	t.Helper()
	if o.logLevel == "" {
		o.logLevel = "warn"
	}
	var errs []error
	// The free port is found by binding and releasing it: another process
	// may take it in between, so a failed start is retried.
	for range 3 {
		s, err := tryStart(t, root, o)
		if err == nil {
			t.Cleanup(func() {
				s.kill()
				if t.Failed() {
					t.Logf("dfsreg serve (pid %d) log:\n%s", s.pid(), s.log.Tail(8<<10))
				}
			})
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("starting dfsreg serve: %v", errors.Join(errs...))
	return nil
}

func tryStart(t *testing.T, root string, o serverOpt) (*server, error) {
	port, err := testutil.FreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	scheme := "http"
	if o.tls != nil {
		scheme = "https"
	}
	s := &server{t: t, root: root, base: scheme + "://" + addr, log: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(dfsregBin, append([]string{"serve", "--addr", addr, "--root", root, "--log-level", o.logLevel}, o.args...)...)
	s.cmd.Env = append(hermeticEnv(), o.env...)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.cmd.Wait()
		s.state = s.cmd.ProcessState
		close(s.exited)
	}()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: o.tls}}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("dfsreg serve exited before answering (%v):\n%s", s.state, s.log.Tail(4<<10))
		default:
		}
		resp, err := hc.Get(s.base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
			s.kill()
			return nil, fmt.Errorf("GET /v2/ answered %s", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return nil, fmt.Errorf("dfsreg serve did not answer GET /v2/ within a minute:\n%s", s.log.Tail(4<<10))
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// wait waits for the process to exit by itself, for at most d.
func (s *server) wait(d time.Duration) (*os.ProcessState, error) {
	select {
	case <-s.exited:
		return s.state, nil
	case <-time.After(d):
		return nil, fmt.Errorf("dfsreg serve still runs after %v", d)
	}
}

// hermeticEnv is the test's environment without DFSREG_* variables, so that
// the server is configured by its flags alone.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DFSREG_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitFor polls cond every 10ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}
