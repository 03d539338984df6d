//go:build unix

package store_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkPutManifestCPU: manifests pushed one after another, and the
// process CPU (user + system, every goroutine: writer, syncers,
// checkpointer) each costs, as cpu-µs/op. On a machine with few cores the
// CPU a manifest PUT costs, not its latency, bounds how many a server
// answers beside its clients.
func BenchmarkPutManifestCPU(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	tmpl := benchManifestSetup(b, s, "bench/cpu")
	before := processCPU(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := fmt.Appendf(nil, tmpl, i)
		if _, err := s.PutManifest(ctx, "bench/cpu", fmt.Sprint("t", i), v1.MediaTypeImageManifest, body); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
