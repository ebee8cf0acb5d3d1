package builtin

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"ptrule/builtin/proctest"
)

// FuzzParseNetLine feeds arbitrary lines to the /proc/net parser: no
// panic, and an accepted socket has valid addresses, ports and a kind
// that follows from its remote address.
func FuzzParseNetLine(f *testing.F) {
	for _, seed := range []string{
		"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 178 1 000000009933d7b2 100 0 0 10 0",
		"   1: 0100007F:1388 0A00000A:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 9001 1 0000000000000000 100 0 0 10 0",
		"  0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55 1 0 100 0 0 10 0",
		"  0: 0000000000000000FFFF00000100000A:01BB 0000000000000000FFFF0000C80071CB:80E8 01 00000000:00000000 00:00000000 00000000     0        0 56 1 0 100 0 0 10 0",
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		"0: 0:0 0:0 0 0 0 0 0 0 0",
		"0: 0100007F:FFFFF 00000000:0000 0A x x x 0 0 1",
		"0: 0100007F:0050 00000000000000000000000000000000:0000 0A x x x 0 0 1",
		"",
	} {
		f.Add(seed, "tcp")
	}
	f.Add("   3: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 300 2 0000000000000000 0", "udp")
	f.Fuzz(func(t *testing.T, line, proto string) {
		inode, s, ok := parseNetLine([]byte(line), proto)
		if !ok {
			return
		}
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
		_ = inode
	})
}

// FuzzNetLineRoundTrip writes sockets the way the kernel (and proctest)
// does and reads them back: whatever the address, only an all-zero
// remote may count as unconnected, which is what lfd's quirk Q1 broke.
func FuzzNetLineRoundTrip(f *testing.F) {
	f.Add([]byte{10, 0, 0, 10}, []byte{127, 0, 0, 1}, uint16(443), uint16(5000), uint8(1), uint64(1234), false)
	f.Add([]byte{10, 0, 0, 171}, []byte{0, 0, 0, 0}, uint16(53), uint16(0), uint8(7), uint64(1), true)
	f.Add(netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("::ffff:10.0.0.1").AsSlice(), uint16(80), uint16(8080), uint8(1), uint64(77), false)
	f.Add(make([]byte, 16), make([]byte, 16), uint16(0), uint16(22), uint8(10), uint64(9), false)
	f.Fuzz(func(t *testing.T, remoteB, localB []byte, rport, lport uint16, state uint8, inode uint64, udp bool) {
		remote, ok1 := netip.AddrFromSlice(remoteB)
		local, ok2 := netip.AddrFromSlice(localB)
		if !ok1 || !ok2 {
			return
		}
		v6 := remote.Is6() || local.Is6()
		proto := "tcp"
		if udp {
			proto = "udp"
		}
		if v6 {
			proto += "6"
		}
		in := proctest.Socket{
			Proto:  proto,
			Local:  netip.AddrPortFrom(local, lport).String(),
			Remote: netip.AddrPortFrom(remote, rport).String(),
			State:  int(state),
			Inode:  inode,
		}
		line, err := proctest.FormatNetLine(0, in)
		if err != nil {
			t.Fatalf("FormatNetLine(%+v): %v", in, err)
		}
		gotInode, s, ok := parseNetLine([]byte(line), proto)
		if !ok {
			t.Fatalf("line %q of %+v does not parse", line, in)
		}
		if gotInode != inode || s.LocalIP != local.Unmap().String() || s.RemoteIP != remote.Unmap().String() ||
			s.LocalPort != int(lport) || s.RemotePort != int(rport) {
			t.Errorf("%+v read back as inode %d %+v", in, gotInode, s.Socket)
		}
		if peer := !remote.Unmap().IsUnspecified(); peer != (s.kind == sockConnected) {
			t.Errorf("%+v: kind %d", in, s.kind)
		}
	})
}

// FuzzParseCgroup: no panic, and a unit is a component of the input
// ending in a unit suffix.
func FuzzParseCgroup(f *testing.F) {
	for _, seed := range []string{
		"0::/system.slice/nginx.service\n",
		"0::/user.slice/user-1000.slice/session-3.scope\n",
		"12:pids:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n",
		"9:name=systemd:/\n0::/\n",
		"::\n:\n0:\n",
		"0::/.service",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path, unit := parseCgroup(data)
		if path != "" && !bytes.Contains(data, []byte(path)) {
			t.Errorf("path %q is not in the input", path)
		}
		if unit == "" {
			return
		}
		if strings.Contains(unit, "/") || !bytes.Contains(data, []byte(unit)) {
			t.Errorf("unit %q is not a component of the input", unit)
		}
		if !slices.ContainsFunc(unitSuffixes, func(s string) bool { return strings.HasSuffix(unit, s) && len(unit) > len(s) }) {
			t.Errorf("unit %q has no unit suffix", unit)
		}
	})
}

// FuzzHostFiles runs the parsers of the small host and process files on
// arbitrary bytes.
func FuzzHostFiles(f *testing.F) {
	for _, seed := range []string{
		"431.47 790.86\n",
		"0.10 0.16 0.07 1/83 4448\n",
		"cpu  1 2 3\ncpu0 1 2\nbtime 1767225600\n",
		"Name:\tx\nUid:\t1000\t33\t33\t33\n",
		"sh\x00-c\x00echo hi\x00\x00",
		"1.2.3 4/5/6 \xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, ok := parseUptime(data); ok && d < 0 {
			t.Errorf("negative uptime %v", d)
		}
		_ = parseLoadavg(data)
		if _, cpus, _ := parseSystemStat(data); cpus < 0 {
			t.Errorf("cpus %d", cpus)
		}
		if uid, ok := parseStatusEUID(data); ok && (uid < 0 || uid > 1<<32-1) {
			t.Errorf("uid %d", uid)
		}
		if v, ok := statusField(data, "Uid:"); ok && (bytes.IndexByte(v, '\n') >= 0 || !bytes.Contains(data, append([]byte("Uid:"), v...))) {
			t.Errorf("status value %q is not the rest of a line of the input", v)
		}
		argv := splitCmdline(data)
		if got, want := strings.Join(argv, "\x00"), string(bytes.TrimRight(data, "\x00")); got != want {
			t.Errorf("cmdline %q does not rejoin to %q", argv, want)
		}
		cmd := joinCmd(argv)
		if strings.TrimRight(cmd, " \t\n\v\f\r") != cmd {
			t.Errorf("cmd %q ends in white space", cmd)
		}
		_, _ = socketInode(data)
	})
}
