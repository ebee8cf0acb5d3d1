package collect

import (
	"fmt"
	"testing"

	"ptrule/builtin/proctest"
	"ptrule/engine"
)

// BenchmarkCollect collects generated trees of 1,000 and 10,000 processes
// (proctest.Gen: kernel threads, deleted programs, sockets, sessions of
// every size, long command lines): read=lazy reads what every tick reads
// (stat and owner; the rest is left to the rules), read=all every fact,
// the sockets walk included, as `ptrule facts` does. ns/proc is the cost
// per process directory, kernel threads included, so that the ratio of
// procs=10000 to procs=1000 shows whether a collection grows linearly.
func BenchmarkCollect(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, read := range []struct {
			name  string
			facts engine.Facts
		}{{"lazy", 0}, {"all", engine.FactRead}} {
			b.Run(fmt.Sprintf("procs=%d/read=%s", n, read.name), func(b *testing.B) {
				tree, st := proctest.Generated(b, proctest.Gen{Procs: n, Seed: 1})
				c, err := NewCollector(tree.Root())
				if err != nil {
					b.Fatal(err)
				}
				want := st.Procs - st.KernelThreads
				// One collection before the clock starts brings the
				// tree's files into the page and dentry caches, where a
				// real /proc always is.
				snap, err := c.Collect(CollectOptions{Read: read.facts})
				if err != nil {
					b.Fatal(err)
				}
				snap.Release()
				b.ReportAllocs()
				for b.Loop() {
					snap, err := c.Collect(CollectOptions{Read: read.facts})
					if err != nil {
						b.Fatal(err)
					}
					snap.Release()
					if len(snap.Procs) != want {
						b.Fatalf("collected %d processes, want %d", len(snap.Procs), want)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/proc")
			})
		}
	}
}
