package attach

import (
	"net"
	"testing"
)

// openLoopbackSockets opens n TCP connections over the loopback (2n
// sockets and a listener) and n/5 bound UDP sockets, closed when the
// benchmark ends: the sockets of a small server.
func openLoopbackSockets(b *testing.B, n int) {
	b.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	for range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(); s.Close() })
	}
	for range n / 5 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { u.Close() })
	}
}

// BenchmarkNetworkConnections renders the netstat attachment of the live
// /proc with about 200 sockets open, all held by this process.
func BenchmarkNetworkConnections(b *testing.B) {
	openLoopbackSockets(b, 100)
	e := NewHostEnricher("/proc")
	for b.Loop() {
		_ = e.NetworkConnections()
	}
}
