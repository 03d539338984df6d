// Package listen opens serve's listener: TCP, a bound on open connections,
// and TLS (certificate reloaded on change, optional client CA for mTLS).
package listen

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/netutil"
)

// Options configure Listen.
type Options struct {
	Addr string
	// MaxConnections bounds connections open at once (0: unbounded):
	// further clients wait in the kernel's accept queue.
	MaxConnections int
	// WriteIdleTimeout closes a connection whose peer accepts no data for
	// this long: it stopped reading, or it is gone (Linux: TCP_USER_TIMEOUT;
	// 0: the kernel's default, many minutes).
	WriteIdleTimeout time.Duration
	// TLS, when set, makes the listener speak TLS.
	TLS *tls.Config
}

// Listener is an open listener and the URL scheme it serves.
type Listener struct {
	net.Listener
	Scheme string // "http" or "https"
}

// URL is the base URL of the listener (the address it is bound to).
func (l *Listener) URL() string { return l.Scheme + "://" + l.Addr().String() }

// Listen opens the listener o describes.
func Listen(o Options) (*Listener, error) {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if o.WriteIdleTimeout > 0 {
		ln = &writeIdleListener{Listener: ln, d: o.WriteIdleTimeout}
	}
	if o.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, o.MaxConnections)
	}
	if o.TLS == nil {
		return &Listener{Listener: ln, Scheme: "http"}, nil
	}
	return &Listener{Listener: tls.NewListener(ln, o.TLS), Scheme: "https"}, nil
}

// writeIdleListener sets the write idle timeout on every connection.
type writeIdleListener struct {
	net.Listener
	d time.Duration
}

func (l *writeIdleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := setWriteIdle(c, l.d); err != nil {
		c.Close()
		return nil, fmt.Errorf("setting the write idle timeout: %w", err)
	}
	return c, nil
}
