// Package testutil holds the small helpers tests share: those that run real
// processes (the e2e tests, and the IPFS and Storj suites), and the
// location of the shared 2DFS fixtures.
package testutil

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// SyncBuffer collects a process's output; safe for concurrent use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail returns the last n bytes.
func (s *SyncBuffer) Tail(n int) string {
	str := s.String()
	if len(str) > n {
		return "...\n" + str[len(str)-n:]
	}
	return str
}

// Fixture2DFS returns the absolute path of rel inside the shared 2DFS
// fixtures: shared/testdata/2dfs beside the module's checkout, as CI lays
// it out (../shared from the directory holding go.mod). The test is
// skipped, saying where it looked, when that path is not there.
func Fixture2DFS(t testing.TB, rel ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{filepath.Dir(dir), "shared", "testdata", "2dfs"}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("2DFS fixtures not found at %s (shared/testdata/2dfs beside the checkout): %v", p, err)
	}
	return p
}
