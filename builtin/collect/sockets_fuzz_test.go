package collect

import (
	"net/netip"
	"testing"

	"ptrule/builtin/proc"
)

// netLineSeeds are lines of /proc/net tables for the fuzz targets of the
// collector's view of a socket.
var netLineSeeds = []string{
	"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 178 1 000000009933d7b2 100 0 0 10 0",
	"   1: 0100007F:1388 0A00000A:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 9001 1 0000000000000000 100 0 0 10 0",
	"  0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55 1 0 100 0 0 10 0",
	"  0: 0000000000000000FFFF00000100000A:01BB 0000000000000000FFFF0000C80071CB:80E8 01 00000000:00000000 00:00000000 00000000     0        0 56 1 0 100 0 0 10 0",
	"   3: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 300 2 0000000000000000 0",
}

// FuzzSocketOf: a socket the parser accepts shows with addresses that
// parse, v4-mapped ones unmapped, ports in range, and a kind that follows
// from its remote address alone: only an all-zero remote counts as
// unconnected, which is what lfd's quirk Q1 broke.
func FuzzSocketOf(f *testing.F) {
	for _, seed := range netLineSeeds {
		for _, proto := range proc.NetTables {
			f.Add(seed, proto)
		}
	}
	f.Fuzz(func(t *testing.T, line, proto string) {
		e, ok := proc.ParseNetLine([]byte(line))
		if !ok {
			return
		}
		s := socketOf(e, proto)
		if s.Proto != proto || s.State == "" {
			t.Errorf("proto %q state %q", s.Proto, s.State)
		}
		local, err1 := netip.ParseAddr(s.LocalIP)
		remote, err2 := netip.ParseAddr(s.RemoteIP)
		if err1 != nil || err2 != nil {
			t.Fatalf("addresses %q %q do not parse: %v %v", s.LocalIP, s.RemoteIP, err1, err2)
		}
		if local.Is4In6() || remote.Is4In6() {
			t.Errorf("v4-mapped address not unmapped: %s %s", local, remote)
		}
		if s.LocalPort < 0 || s.LocalPort > 65535 || s.RemotePort < 0 || s.RemotePort > 65535 {
			t.Errorf("ports %d %d", s.LocalPort, s.RemotePort)
		}
		if (s.kind == sockConnected) == remote.IsUnspecified() {
			t.Errorf("kind %d with remote %s", s.kind, remote)
		}
	})
}
