package attach

import (
	"net/netip"
	"strings"
	"testing"

	"ptrule/builtin/proc"
)

// FuzzEnrichSocketOf: a socket the parser accepts shows in the netstat
// table with its inode and two addresses that read back as the parsed
// ones, and an unconnected UDP socket has no state, as in netstat.
func FuzzEnrichSocketOf(f *testing.F) {
	for _, seed := range []string{
		"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 178 1 000000009933d7b2 100 0 0 10 0",
		"   1: 0100007F:1388 0A00000A:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 9001 1 0000000000000000 100 0 0 10 0",
		"  0: 0000000000000000FFFF00000100000A:01BB 0000000000000000FFFF0000C80071CB:80E8 01 00000000:00000000 00:00000000 00000000     0        0 56 1 0 100 0 0 10 0",
		"   3: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 300 2 0000000000000000 0",
	} {
		for _, proto := range proc.NetTables {
			f.Add(seed, proto)
		}
	}
	f.Fuzz(func(t *testing.T, line, proto string) {
		e, ok := proc.ParseNetLine([]byte(line))
		if !ok {
			return
		}
		s := enrichSocketOf(e, proto)
		if s.inode != e.Inode || s.recvQ != e.RxQueue || s.sendQ != e.TxQueue {
			t.Errorf("socket %+v of %+v", s, e)
		}
		for _, a := range []struct {
			shown string
			want  netip.AddrPort
		}{{s.local, e.Local}, {s.foreign, e.Remote}} {
			i := strings.LastIndexByte(a.shown, ':')
			if i < 0 || (a.shown[i+1:] == "*") != (a.want.Port() == 0) {
				t.Fatalf("address %q of %v", a.shown, a.want)
			}
			if got, err := netip.ParseAddr(a.shown[:i]); err != nil || got != a.want.Addr() {
				t.Errorf("address %q reads as %v (%v), want %v", a.shown, got, err, a.want.Addr())
			}
		}
		if strings.HasPrefix(proto, "udp") && e.State != 1 && s.state != "" {
			t.Errorf("unconnected udp socket shows state %q", s.state)
		}
	})
}
