//go:build unix

package store

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// gens are per-repository generation counters shared by every process that
// opens the store (serve, gc, partition --tag): a small file mapped
// MAP_SHARED, one 64-bit slot per repository id modulo genSlots. A process
// bumps a repository's slot before and after committing a change to its
// tags, manifests or partitions; a cached answer is used only while the slot
// still holds the value read before the answer was fetched. Reading a slot is
// one atomic load: no system call, no SQLite lock.
type gens struct {
	f     *os.File
	mem   []byte
	slots []uint64
}

const genSlots = 4096

// GenFile is the generation file's name in the store root.
const GenFile = "dfsreg.gen"

func openGens(path string) (*gens, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	size := genSlots * 8
	if fi, err := f.Stat(); err == nil && fi.Size() < int64(size) {
		if err := f.Truncate(int64(size)); err != nil {
			f.Close()
			return nil, err
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	slots := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), genSlots)
	return &gens{f: f, mem: mem, slots: slots}, nil
}

func (g *gens) load(repo int64) uint64 { return atomic.LoadUint64(&g.slots[uint64(repo)%genSlots]) }

func (g *gens) bump(repo int64) { atomic.AddUint64(&g.slots[uint64(repo)%genSlots], 1) }

func (g *gens) close() error {
	err := syscall.Munmap(g.mem)
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	return err
}
