//go:build !linux

package listen

import (
	"net"
	"time"
)

// setWriteIdle is not available outside Linux: a client that stops reading
// holds its connection until it goes away.
func setWriteIdle(net.Conn, time.Duration) error { return nil }

const writeIdleSupported = false
