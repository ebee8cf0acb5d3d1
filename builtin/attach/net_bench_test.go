package attach

import (
	"ptrule/builtin/proctest"
	"testing"
)

// BenchmarkNetworkConnections renders the netstat attachment of the live
// /proc with about 200 sockets open, all held by this process.
func BenchmarkNetworkConnections(b *testing.B) {
	proctest.OpenLoopbackSockets(b, 100)
	e := NewHostEnricher("/proc")
	for b.Loop() {
		_ = e.NetworkConnections()
	}
}
