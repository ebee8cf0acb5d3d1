package collect

import (
	"fmt"
	"testing"

	"ptrule/builtin/proctest"
)

// BenchmarkCollect collects generated trees of 1,000 and 10,000 processes
// (proctest.Gen: kernel threads, deleted programs, sockets, sessions of
// every size, long command lines), with and without the sockets walk.
// ns/proc is the cost per process directory, kernel threads included, so
// that the ratio of procs=10000 to procs=1000 shows whether a collection
// grows linearly.
func BenchmarkCollect(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, sockets := range []bool{false, true} {
			b.Run(fmt.Sprintf("procs=%d/sockets=%t", n, sockets), func(b *testing.B) {
				tree, st := proctest.Generated(b, proctest.Gen{Procs: n, Seed: 1})
				c, err := NewCollector(tree.Root())
				if err != nil {
					b.Fatal(err)
				}
				want := st.Procs - st.KernelThreads
				// One collection before the clock starts brings the
				// tree's files into the page and dentry caches, where a
				// real /proc always is.
				if _, err := c.Collect(CollectOptions{Sockets: sockets}); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					snap, err := c.Collect(CollectOptions{Sockets: sockets})
					if err != nil {
						b.Fatal(err)
					}
					if len(snap.Procs) != want {
						b.Fatalf("collected %d processes, want %d", len(snap.Procs), want)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/proc")
			})
		}
	}
}
