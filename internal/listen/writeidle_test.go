package listen

import (
	"net"
	"testing"
	"time"
)

// TestWriteIdleTimeout: a client that stops reading is cut after the write
// idle timeout; one that reads slowly but steadily is not.
func TestWriteIdleTimeout(t *testing.T) {
	if !writeIdleSupported {
		t.Skip("TCP_USER_TIMEOUT is Linux only")
	}
	const idle = 500 * time.Millisecond
	ln, err := Listen(Options{Addr: "127.0.0.1:0", WriteIdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// write sends to the accepted connection until it fails or for d;
	// it returns how long writing lasted and whether it failed.
	write := func(c net.Conn, d time.Duration) (time.Duration, bool) {
		buf := make([]byte, 64<<10)
		start := time.Now()
		for time.Since(start) < d {
			if _, err := c.Write(buf); err != nil {
				return time.Since(start), true
			}
		}
		return time.Since(start), false
	}
	for _, tc := range []struct {
		name    string
		reader  func(c net.Conn)
		wantCut bool
	}{
		{"stalled reader", func(c net.Conn) {}, true},
		{"slow steady reader", func(c net.Conn) {
			buf := make([]byte, 256<<10)
			for {
				time.Sleep(idle / 5)
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			go tc.reader(client)
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			took, cut := write(srv, 8*idle)
			if cut != tc.wantCut {
				t.Fatalf("writing for %v: cut %v, want %v", took, cut, tc.wantCut)
			}
			if cut && took > 6*idle {
				t.Errorf("cut only after %v (idle timeout %v)", took, idle)
			}
		})
	}
}
