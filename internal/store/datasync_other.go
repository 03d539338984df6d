//go:build !linux

package store

import "os"

// datasync flushes f's data; without fdatasync, fsync does it.
func datasync(f *os.File) error { return f.Sync() }
