//go:build !linux

package ipfs_test

import "syscall"

// daemonAttr: its own process group, killed as one.
func daemonAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
