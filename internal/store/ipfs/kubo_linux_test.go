package ipfs_test

import "syscall"

// daemonAttr: its own process group (killed as one), and killed with the
// test binary if that dies first.
func daemonAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
