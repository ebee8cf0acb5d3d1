package collect

import (
	"net"
	"testing"

	"ptrule/builtin/proc"
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

// BenchmarkSocketTable builds the socket table of the live /proc, with
// about 200 sockets open, from the four /proc/net files and from a
// sock_diag dump: the reason newSocketTable asks for a dump.
func BenchmarkSocketTable(b *testing.B) {
	openLoopbackSockets(b, 100)
	realDump := dumpOwnSockets
	defer func() { dumpOwnSockets = realDump }()
	for _, bb := range []struct {
		name   string
		source func() socketSource
	}{
		{"files", func() socketSource { return failingSource{nil, proc.NetTables} }},
		{"netlink", realDump},
	} {
		b.Run(bb.name, func(b *testing.B) {
			dumpOwnSockets = bb.source
			n := 0
			for b.Loop() {
				n = len(newSocketTable("/proc").byInode)
			}
			b.ReportMetric(float64(n), "sockets")
		})
	}
}
