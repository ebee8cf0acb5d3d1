package builtin

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"ptrule/builtin/proctest"
)

func TestParsePidStat(t *testing.T) {
	// 52 fields, as a 6.x kernel prints them; starttime (22) is 777.
	tail := " S 10 20 30 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 777 1000 50 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0"
	// want returns the fields of tail for a process pid named comm.
	want := func(pid int, comm string, flags uint64) pidStat {
		return pidStat{pid: pid, comm: comm, state: "S", ppid: 10, pgrp: 20, session: 30, ttyNr: 0, tpgid: -1,
			flags: flags, utime: 5, stime: 6, nice: 0, threads: 1, starttime: 777, vsize: 1000, rss: 50}
	}
	tests := []struct {
		name    string
		in      string
		want    pidStat
		wantErr bool
	}{
		{name: "plain", in: "42 (sleep)" + tail, want: want(42, "sleep", 4194560)},
		{name: "paren and space in comm", in: "42 (a) S 1 (b)" + tail, want: want(42, "a) S 1 (b", 4194560)},
		{name: "newline in comm", in: "42 (x\ny) 1 2)" + tail + "\n", want: want(42, "x\ny) 1 2", 4194560)},
		{name: "kernel thread", in: "3 (kworker/0:0)" + strings.Replace(tail, "4194560", "2129984", 1), want: want(3, "kworker/0:0", 2129984)},
		{name: "negative numbers", in: "7 (x) Z -1 -2 -3 -4 -5 0 0 0 0 0 0 0 0 0 0 -20 1 0 0 0 -6",
			want: pidStat{pid: 7, comm: "x", state: "Z", ppid: -1, pgrp: -2, session: -3, ttyNr: -4, tpgid: -5, nice: -20, threads: 1, rss: -6}},
		{name: "empty", in: "", wantErr: true},
		{name: "no parens", in: "42 sleep S 1 2 3", wantErr: true},
		{name: "truncated", in: "42 (sleep) S 1 2 3", wantErr: true},
		{name: "bad pid", in: "x (sleep)" + tail, wantErr: true},
		{name: "bad starttime", in: "42 (sleep)" + strings.Replace(tail, " 777 ", " -7 ", 1), wantErr: true},
		{name: "close before open", in: "42 )sleep(" + tail, wantErr: true},
		// Every field pidStat keeps must be whole, and the state one letter.
		{name: "ends before rss", in: "42 (sleep) S 10 20 30 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 777 1000", wantErr: true},
		{name: "bad utime", in: "42 (sleep)" + strings.Replace(tail, " 5 6 ", " x 6 ", 1), wantErr: true},
		{name: "two-letter state", in: "42 (sleep) SS" + strings.TrimPrefix(tail, " S"), wantErr: true},
		{name: "overflow", in: "42 (sleep)" + strings.Replace(tail, " 1000 ", " 18446744073709551616 ", 1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePidStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if err == nil && got.kernelThread() != (got.flags&kthreadFlag != 0) {
				t.Errorf("kernelThread() = %v for flags %#x", got.kernelThread(), got.flags)
			}
		})
	}
}

func TestStatusField(t *testing.T) {
	tests := []struct {
		in, key string
		want    string
		ok      bool
	}{
		{"Name:\tx\nTgid:\t42\nUid:\t1\t2\t3\t4\n", "Tgid:", "\t42", true},
		{"Name:\tx\nTgid:\t42\nUid:\t1\t2\t3\t4\n", "Uid:", "\t1\t2\t3\t4", true},
		{"Uid:\t1\nUid:\t2\n", "Uid:", "\t1", true},
		{"VmLck:\t       4 kB", "VmLck:", "\t       4 kB", true},
		{"Tgid:", "Tgid:", "", true},
		{"Name:\tTgid:\t5\n", "Tgid:", "", false},
		{"Tgid 5\n", "Tgid:", "", false},
		{"", "Tgid:", "", false},
	}
	for _, tt := range tests {
		got, ok := statusField([]byte(tt.in), tt.key)
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("statusField(%q, %q) = %q, %v; want %q, %v", tt.in, tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParsePidStat feeds arbitrary bytes to the /proc/PID/stat parser:
// it must never panic, and what it accepts must be a whole line.
func FuzzParsePidStat(f *testing.F) {
	for _, seed := range []string{
		"4444 (cat) R 4442 4442 2844 0 -1 4194304 96 0 1 0 0 0 0 0 20 0 1 0 43144 3133440 376 18446744073709551615 94515506720768 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
		"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 21 0 0 18446744073709551615 0 0\n",
		"7 (a) (b\nc) Z 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 0\n",
		"1 ())) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 -5 0",
		"1 (x)",
		"1 (x) S",
		")(",
		"",
		"1 (x) S -1 -2 -3 0 -1 99999999999999999999 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 0",
		"42 (sleep) S 10 20 30 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 777 1000 50",
		"1 ((sd-pam)) S 0 1 1 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 1 0 0",
		"7 (a\n) b) Z",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parsePidStat(data)
		if err != nil {
			return
		}
		if len(st.state) != 1 || strings.ContainsAny(st.state, " \t\n\v\f\r") {
			t.Errorf("state %q", st.state)
		}
		if !bytes.Contains(data, []byte("("+st.comm+")")) {
			t.Errorf("comm %q is not between parentheses in the input", st.comm)
		}
		_, _ = st.zombie(), st.kernelThread()
	})
}

func TestParseNetLine(t *testing.T) {
	lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	hexLo := "0100007F"
	if !littleEndian() {
		hexLo = "7F000001"
	}
	line := func(local, remote, st, queues string) string {
		return "   1: " + local + " " + remote + " " + st + " " + queues + " 00:00000000 00000000  1000        0 9001 1 0000000000000000 100 0 0 10 0\n"
	}
	tests := []struct {
		name string
		in   string
		want netEntry
		ok   bool
	}{
		{"v4", line(hexLo+":1388", hexLo+":01BB", "01", "00000010:00000020"),
			netEntry{local: netip.AddrPortFrom(lo, 5000), remote: netip.AddrPortFrom(lo, 443), state: 1, txQueue: 16, rxQueue: 32, inode: 9001}, true},
		{"v6", line(strings.Repeat("0", 32)+":0016", strings.Repeat("0", 32)+":0000", "0A", "00000000:00000000"),
			netEntry{local: netip.AddrPortFrom(netip.IPv6Unspecified(), 22), remote: netip.AddrPortFrom(netip.IPv6Unspecified(), 0), state: 10, inode: 9001}, true},
		{"header", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n", netEntry{}, false},
		{"short", "   1: " + hexLo + ":1388 " + hexLo + ":01BB 01\n", netEntry{}, false},
		{"families differ", line(hexLo+":1388", strings.Repeat("0", 32)+":0000", "0A", "00000000:00000000"), netEntry{}, false},
		{"port too large", line(hexLo+":10000", hexLo+":01BB", "01", "00000000:00000000"), netEntry{}, false},
		{"state too large", line(hexLo+":1388", hexLo+":01BB", "100", "00000000:00000000"), netEntry{}, false},
		{"address of 7 digits", line("100007F:1388", hexLo+":01BB", "01", "00000000:00000000"), netEntry{}, false},
		{"queues without colon", line(hexLo+":1388", hexLo+":01BB", "01", "0000000000000000"), netEntry{}, false},
		{"queues not hex", line(hexLo+":1388", hexLo+":01BB", "01", "x:y"), netEntry{}, false},
		{"inode not decimal", strings.Replace(line(hexLo+":1388", hexLo+":01BB", "01", "00000000:00000000"), " 9001 ", " 9F ", 1), netEntry{}, false},
	}
	for _, tt := range tests {
		got, ok := parseNetLine([]byte(tt.in))
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: parseNetLine(%q) = %+v, %v; want %+v, %v", tt.name, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func littleEndian() bool {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	return b[0] == 1
}

// FuzzParseNetLine feeds arbitrary lines to the /proc/net parser: no
// panic, and an accepted socket has valid addresses, ports and a kind
// that follows from its remote address. Written back the way the kernel
// (and proctest) writes it, an accepted socket reads the same, whatever
// its address: only an all-zero remote may count as unconnected, which is
// what lfd's quirk Q1 broke.
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
	// Sockets as proctest writes them: remote, local, ports, state,
	// inode and protocol.
	for _, s := range []struct {
		remote, local []byte
		rport, lport  uint16
		state         int
		inode         uint64
		udp           bool
	}{
		{[]byte{10, 0, 0, 10}, []byte{127, 0, 0, 1}, 443, 5000, 1, 1234, false},
		{[]byte{10, 0, 0, 171}, []byte{0, 0, 0, 0}, 53, 0, 7, 1, true},
		{netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("::ffff:10.0.0.1").AsSlice(), 80, 8080, 1, 77, false},
		{make([]byte, 16), make([]byte, 16), 0, 22, 10, 9, false},
	} {
		remote, _ := netip.AddrFromSlice(s.remote)
		local, _ := netip.AddrFromSlice(s.local)
		proto := "tcp"
		if s.udp {
			proto = "udp"
		}
		if remote.Is6() || local.Is6() {
			proto += "6"
		}
		line, err := proctest.FormatNetLine(0, proctest.Socket{
			Proto:  proto,
			Local:  netip.AddrPortFrom(local, s.lport).String(),
			Remote: netip.AddrPortFrom(remote, s.rport).String(),
			State:  s.state,
			Inode:  s.inode,
		})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line, proto)
	}
	f.Fuzz(func(t *testing.T, line, proto string) {
		e, ok := parseNetLine([]byte(line))
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
		if es := enrichSocketOf(e, proto); es.inode != e.inode || es.local == "" || es.foreign == "" {
			t.Errorf("enricher's socket %+v of %+v", es, e)
		}

		if !slices.Contains(netTables, proto) || strings.HasSuffix(proto, "6") != e.local.Addr().Is6() {
			return
		}
		in := proctest.Socket{Proto: proto, Local: e.local.String(), Remote: e.remote.String(), State: int(e.state), Inode: e.inode}
		back, err := proctest.FormatNetLine(0, in)
		if err != nil {
			t.Fatalf("FormatNetLine(%+v): %v", in, err)
		}
		got, ok := parseNetLine([]byte(back))
		if !ok {
			t.Fatalf("line %q of %+v does not parse", back, in)
		}
		want := e
		// proctest writes empty queues, and picks a state for state 0.
		want.txQueue, want.rxQueue = 0, 0
		if want.state == 0 {
			want.state = got.state
		}
		if got != want {
			t.Errorf("%+v read back as %+v", want, got)
		}
	})
}
