// Package testutil holds the small helpers the tests that run real
// processes share (the e2e tests, and the IPFS and Storj suites).
package testutil

import (
	"bytes"
	"net"
	"sync"
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
