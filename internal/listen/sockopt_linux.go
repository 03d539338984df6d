package listen

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// setWriteIdle makes the kernel close c when data it sends stays
// unacknowledged, or cannot be sent because the peer's window stays closed
// (a client that stops reading), for d (TCP_USER_TIMEOUT).
func setWriteIdle(c net.Conn, d time.Duration) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	})
	if err != nil {
		return err
	}
	return serr
}

const writeIdleSupported = true
