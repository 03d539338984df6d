// Package listen opens serve's listener: TCP, a bound on open connections,
// and TLS (certificate reloaded on change, optional client CA for mTLS).
package listen

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
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
	// OnError, when set, is told (once) that the write idle timeout could
	// not be set on a connection; the connection is served without it.
	OnError func(error)
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
		ln = &writeIdleListener{Listener: ln, d: o.WriteIdleTimeout, onErr: o.OnError}
	}
	if o.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, o.MaxConnections)
	}
	if o.TLS == nil {
		return &Listener{Listener: ln, Scheme: "http"}, nil
	}
	return &Listener{Listener: tls.NewListener(ln, o.TLS), Scheme: "https"}, nil
}

// writeIdleListener sets the write idle timeout on every connection. The
// timeout is hardening, not a condition of service: a connection on which
// the option cannot be set (a kernel or sandbox that refuses it) is served
// without it; an error from Accept would stop the whole server.
type writeIdleListener struct {
	net.Listener
	d     time.Duration
	onErr func(error)
	once  sync.Once
}

func (l *writeIdleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := setWriteIdle(c, l.d); err != nil && l.onErr != nil {
		l.once.Do(func() { l.onErr(fmt.Errorf("setting the write idle timeout: %w", err)) })
	}
	return c, nil
}
