package proc

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"ptrule/builtin/proctest"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nlMsg is a netlink message as the kernel writes it: header, body, and
// padding to 4 bytes.
func nlMsg(typ, flags uint16, seq uint32, body []byte) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body)+3)
	binary.NativeEndian.PutUint32(b[0:4], uint32(unix.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// diagMsg is the inet_diag_msg of e, followed by an attribute the parser
// must skip.
func diagMsg(e NetEntry, wqueue uint32) []byte {
	b := make([]byte, sizeofInetDiagMsg, sizeofInetDiagMsg+8)
	b[diagFamily] = unix.AF_INET
	if e.Local.Addr().Is6() {
		b[diagFamily] = unix.AF_INET6
	}
	b[diagState] = e.State
	binary.BigEndian.PutUint16(b[diagSport:], e.Local.Port())
	binary.BigEndian.PutUint16(b[diagDport:], e.Remote.Port())
	copy(b[diagSrc:], e.Local.Addr().AsSlice())
	copy(b[diagDst:], e.Remote.Addr().AsSlice())
	binary.NativeEndian.PutUint32(b[diagRqueue:], uint32(e.RxQueue))
	binary.NativeEndian.PutUint32(b[diagWqueue:], wqueue)
	binary.NativeEndian.PutUint32(b[diagUID:], e.UID)
	binary.NativeEndian.PutUint32(b[diagInode:], uint32(e.Inode))
	// An INET_DIAG_SHUTDOWN attribute: length 5, type 8, one byte.
	return append(b, 5, 0, 8, 0, 1, 0, 0, 0)
}

func errMsg(seq uint32, errno syscall.Errno) []byte {
	body := make([]byte, unix.SizeofNlMsgerr)
	binary.NativeEndian.PutUint32(body[0:4], uint32(-int32(errno)))
	return nlMsg(unix.NLMSG_ERROR, 0, seq, body)
}

func doneMsg(seq uint32) []byte {
	return nlMsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, make([]byte, 4))
}

func TestParseSockDiag(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	estab := NetEntry{Local: netip.AddrPortFrom(lo, 5000), Remote: netip.AddrPortFrom(lo, 443), State: 1, TxQueue: 16, RxQueue: 32, UID: 1000, Inode: 9001}
	listen := NetEntry{Local: netip.AddrPortFrom(netip.IPv4Unspecified(), 22), Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0), State: 10, RxQueue: 3, Inode: 9002}
	listen6 := NetEntry{Local: netip.AddrPortFrom(netip.IPv6Unspecified(), 22), Remote: netip.AddrPortFrom(netip.IPv6Unspecified(), 0), State: 10, Inode: 9003}
	estab6 := NetEntry{Local: netip.AddrPortFrom(mapped, 443), Remote: netip.AddrPortFrom(v6, 51000), State: 8, UID: 4294967294, Inode: 4294967295}
	sock := func(e NetEntry) []byte {
		return nlMsg(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, 7, diagMsg(e, uint32(e.TxQueue)))
	}
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }

	test := func(t *testing.T, data []byte, msgType uint16, family, protocol uint8, want []NetEntry, wantDone bool, wantErr string) {
		t.Helper()
		// dst holds a socket of an earlier datagram, which stays
		// whatever this one holds.
		earlier := NetEntry{Inode: 1}
		got, done, err := ParseSockDiag([]NetEntry{earlier}, data, 7, msgType, family, protocol)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("error %v, want one saying %q", err, wantErr)
			}
		} else if err != nil {
			t.Errorf("error %v", err)
		}
		if want := append([]NetEntry{earlier}, want...); !slices.Equal(got, want) || done != wantDone {
			t.Errorf("got %+v done %v, want %+v done %v", got, done, want, wantDone)
		}
	}
	tests := []struct {
		name     string
		data     []byte
		family   uint8
		protocol uint8
		want     []NetEntry
		done     bool
		err      string
	}{
		{"one datagram of a multipart dump", cat(sock(estab), sock(estab)), unix.AF_INET, unix.IPPROTO_TCP, []NetEntry{estab, estab}, false, ""},
		{"last datagram", cat(sock(estab), doneMsg(7)), unix.AF_INET, unix.IPPROTO_TCP, []NetEntry{estab}, true, ""},
		{"done alone", doneMsg(7), unix.AF_INET, unix.IPPROTO_TCP, nil, true, ""},
		{"nothing after done is read", cat(doneMsg(7), []byte("garbage")), unix.AF_INET, unix.IPPROTO_TCP, nil, true, ""},
		{"v6 and v4-mapped", sock(estab6), unix.AF_INET6, unix.IPPROTO_TCP, []NetEntry{estab6}, false, ""},
		// The backlog limit a dump reports as the send queue of a
		// listener is 0 in /proc/net/tcp.
		{"tcp listener", nlMsg(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, 7, diagMsg(listen, 4096)), unix.AF_INET, unix.IPPROTO_TCP, []NetEntry{listen}, false, ""},
		{"tcp6 listener", nlMsg(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, 7, diagMsg(listen6, 128)), unix.AF_INET6, unix.IPPROTO_TCP, []NetEntry{listen6}, false, ""},
		{"udp in state 10 keeps its send queue", nlMsg(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, 7, diagMsg(listen, 4096)), unix.AF_INET, unix.IPPROTO_UDP,
			[]NetEntry{{Local: listen.Local, Remote: listen.Remote, State: 10, RxQueue: 3, TxQueue: 4096, Inode: 9002}}, false, ""},
		{"last message without padding", nlMsg(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, 7, diagMsg(estab, 16)[:sizeofInetDiagMsg+5])[:unix.NLMSG_HDRLEN+sizeofInetDiagMsg+5], unix.AF_INET, unix.IPPROTO_TCP, []NetEntry{estab}, false, ""},
		{"error", cat(sock(estab), errMsg(7, unix.ENOENT)), unix.AF_INET, unix.IPPROTO_UDP, nil, false, "no such file"},
		{"interrupted", cat(sock(estab), nlMsg(unix.NLMSG_DONE, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, 7, make([]byte, 4))), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "interrupted"},
		{"interrupted socket message", nlMsg(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, 7, diagMsg(estab, 0)), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "interrupted"},
		{"acknowledgement", errMsg(7, 0), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "acknowledgement"},
		{"error without code", nlMsg(unix.NLMSG_ERROR, 0, 7, []byte{1}), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "malformed"},
		{"positive error code", nlMsg(unix.NLMSG_ERROR, 0, 7, []byte{1, 0, 0, 0}), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "malformed"},
		{"other sequence", cat(sock(estab), nlMsg(unix.SOCK_DIAG_BY_FAMILY, 0, 8, diagMsg(estab, 0))), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "sequence"},
		{"other family", sock(estab), unix.AF_INET6, unix.IPPROTO_TCP, nil, false, "family"},
		{"other type", nlMsg(unix.RTM_NEWLINK, 0, 7, diagMsg(estab, 0)), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "type"},
		{"truncated header", sock(estab)[:10], unix.AF_INET, unix.IPPROTO_TCP, nil, false, "header"},
		{"truncated message", cat(sock(estab), sock(estab)[:40]), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "malformed"},
		{"short socket message", nlMsg(unix.SOCK_DIAG_BY_FAMILY, 0, 7, diagMsg(estab, 0)[:sizeofInetDiagMsg-1]), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "bytes"},
		{"length below header", func() []byte { b := sock(estab); binary.NativeEndian.PutUint32(b, 4); return b }(), unix.AF_INET, unix.IPPROTO_TCP, nil, false, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			test(t, tt.data, unix.SOCK_DIAG_BY_FAMILY, tt.family, tt.protocol, tt.want, tt.done, tt.err)
		})
	}

	// The older TCP request answers with both families, in messages of
	// its own type.
	both := func(e NetEntry) []byte {
		return nlMsg(TCPDiagGetSock, unix.NLM_F_MULTI, 7, diagMsg(e, uint32(e.TxQueue)))
	}
	t.Run("both families", func(t *testing.T) {
		test(t, cat(both(estab), both(estab6), both(listen6), doneMsg(7)), TCPDiagGetSock, unix.AF_UNSPEC, unix.IPPROTO_TCP, []NetEntry{estab, estab6, listen6}, true, "")
	})
	t.Run("both families, message of the newer type", func(t *testing.T) {
		test(t, sock(estab), TCPDiagGetSock, unix.AF_UNSPEC, unix.IPPROTO_TCP, nil, false, "type")
	})
	t.Run("both families, unknown family", func(t *testing.T) {
		m := both(estab)
		m[unix.NLMSG_HDRLEN+diagFamily] = unix.AF_UNIX
		test(t, m, TCPDiagGetSock, unix.AF_UNSPEC, unix.IPPROTO_TCP, nil, false, "family")
	})
	t.Run("newer type, older message", func(t *testing.T) {
		test(t, both(estab), unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, unix.IPPROTO_TCP, nil, false, "type")
	})

	if _, _, err := ParseSockDiag(nil, nlMsg(unix.NLMSG_DONE, unix.NLM_F_DUMP_INTR, 7, nil), 7, unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, unix.IPPROTO_TCP); !errors.Is(err, ErrDumpInterrupted) {
		t.Errorf("an interrupted dump gives %v, want ErrDumpInterrupted", err)
	}
	if _, _, err := ParseSockDiag(nil, errMsg(7, unix.EPERM), 7, unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, unix.IPPROTO_TCP); !errors.Is(err, unix.EPERM) {
		t.Errorf("an error message gives %v, want EPERM", err)
	}
}

// FuzzParseSockDiag feeds arbitrary datagrams to the sock_diag parser: no
// panic, no read out of bounds, and whatever it returns is well-formed:
// sockets only when there is no error, every one of the asked family,
// with both addresses of that family, after the sockets already in dst.
func FuzzParseSockDiag(f *testing.F) {
	lo := netip.MustParseAddr("127.0.0.1")
	e4 := NetEntry{Local: netip.AddrPortFrom(lo, 5000), Remote: netip.AddrPortFrom(lo, 443), State: 1, Inode: 9001}
	e6 := NetEntry{Local: netip.AddrPortFrom(netip.MustParseAddr("::1"), 80), Remote: netip.AddrPortFrom(netip.MustParseAddr("::ffff:10.0.0.1"), 0), State: 10, Inode: 9}
	sock := func(e NetEntry) []byte { return nlMsg(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, 1, diagMsg(e, 5)) }
	f.Add(slices.Concat(sock(e4), sock(e4), doneMsg(1)), uint8(unix.AF_INET), uint8(unix.IPPROTO_TCP))
	f.Add(slices.Concat(sock(e6), doneMsg(1)), uint8(unix.AF_INET6), uint8(unix.IPPROTO_TCP))
	f.Add(slices.Concat(sock(e6), errMsg(1, unix.ENOENT)), uint8(unix.AF_INET6), uint8(unix.IPPROTO_UDP))
	f.Add(nlMsg(unix.NLMSG_DONE, unix.NLM_F_DUMP_INTR, 1, nil), uint8(unix.AF_INET), uint8(unix.IPPROTO_UDP))
	f.Add(sock(e4)[:30], uint8(unix.AF_INET), uint8(unix.IPPROTO_TCP))
	f.Add([]byte{}, uint8(0), uint8(0))
	both := func(e NetEntry) []byte { return nlMsg(TCPDiagGetSock, unix.NLM_F_MULTI, 1, diagMsg(e, 5)) }
	f.Add(slices.Concat(both(e4), both(e6), doneMsg(1)), uint8(2), uint8(unix.IPPROTO_TCP))
	f.Fuzz(func(t *testing.T, data []byte, family, protocol uint8) {
		// Only these are ever asked for: TCP of both families with the
		// older request, or one family.
		msgType := uint16(unix.SOCK_DIAG_BY_FAMILY)
		switch family % 3 {
		case 0:
			family = unix.AF_INET
		case 1:
			family = unix.AF_INET6
		default:
			family, protocol, msgType = unix.AF_UNSPEC, unix.IPPROTO_TCP, TCPDiagGetSock
		}
		earlier := NetEntry{Inode: 1}
		got, done, err := ParseSockDiag([]NetEntry{earlier}, data, 1, msgType, family, protocol)
		if len(got) == 0 || got[0] != earlier {
			t.Fatalf("the sockets already in dst were lost: %+v", got)
		}
		if err != nil && (len(got) != 1 || done) {
			t.Errorf("an error (%v) came with sockets %+v or done %v", err, got[1:], done)
		}
		if err == nil && !done && len(got)-1 > len(data)/(unix.NLMSG_HDRLEN+sizeofInetDiagMsg) {
			t.Errorf("%d sockets from %d bytes", len(got)-1, len(data))
		}
		for _, e := range got[1:] {
			l, r := e.Local.Addr(), e.Remote.Addr()
			if !l.IsValid() || !r.IsValid() || (family != unix.AF_UNSPEC && l.Is4() != (family == unix.AF_INET)) || r.Is4() != l.Is4() {
				t.Errorf("socket %+v in a dump of family %d", e, family)
			}
			if e.Inode > 1<<32-1 || e.RxQueue > 1<<32-1 || e.TxQueue > 1<<32-1 {
				t.Errorf("socket %+v has a field wider than the kernel's", e)
			}
			if protocol == unix.IPPROTO_TCP && e.State == 10 && e.TxQueue != 0 {
				t.Errorf("listener %+v has a send queue", e)
			}
		}
	})
}

func TestDumpInetSocketsUnknownTable(t *testing.T) {
	if got, err := DumpInetSockets(AllSocketStates).Table("raw"); err == nil {
		t.Errorf("Table(raw) = %+v, want an error", got)
	}
}

// liveSockets opens loopback sockets of every kind the collector tells
// apart, v4 and v6 (v6 when the host has ::1), closed at the end of the
// test, and returns their inodes.
func liveSockets(t *testing.T) map[uint64]string {
	t.Helper()
	inodes := map[uint64]string{}
	add := func(what string, c syscall.Conn) {
		t.Helper()
		raw, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		var serr error
		if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
			t.Fatalf("fstat %s: %v %v", what, err, serr)
		}
		inodes[st.Ino] = what
	}
	closeLater := func(c interface{ Close() error }) { t.Cleanup(func() { c.Close() }) }
	for _, v := range []struct{ tcp, udp, lo string }{{"tcp4", "udp4", "127.0.0.1"}, {"tcp6", "udp6", "[::1]"}} {
		ln, err := net.Listen(v.tcp, v.lo+":0")
		if err != nil {
			if v.tcp == "tcp6" {
				t.Logf("no IPv6 loopback (%v): v4 only", err)
				continue
			}
			t.Fatal(err)
		}
		closeLater(ln)
		client, err := net.Dial(v.tcp, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		closeLater(client)
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		closeLater(server)
		bound, err := net.ListenPacket(v.udp, v.lo+":0")
		if err != nil {
			t.Fatal(err)
		}
		closeLater(bound)
		dialed, err := net.Dial(v.udp, bound.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		closeLater(dialed)
		add(v.tcp+" listening", ln.(*net.TCPListener))
		add(v.tcp+" client", client.(*net.TCPConn))
		add(v.tcp+" server", server.(*net.TCPConn))
		add(v.udp+" bound", bound.(*net.UDPConn))
		add(v.udp+" connected", dialed.(*net.UDPConn))
	}
	// A dual-stack listener reached over IPv4 holds a tcp6 socket with
	// v4-mapped addresses.
	if ln, err := net.Listen("tcp", "[::]:0"); err == nil {
		closeLater(ln)
		client, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		if err != nil {
			t.Fatal(err)
		}
		closeLater(client)
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		closeLater(server)
		add("tcp6-mapped server", server.(*net.TCPConn))
	}
	return inodes
}

// TestDumpInetSocketsMatchesProcNet opens known loopback sockets and checks
// that the sock_diag dump reports each exactly as its /proc/net table
// does: inode, addresses, ports, state, queues and owner.
func TestDumpInetSocketsMatchesProcNet(t *testing.T) {
	inodes := liveSockets(t)
	fromDump := map[uint64]NetEntry{}
	fromFile := map[uint64]NetEntry{}
	tableOf := map[uint64]string{}
	dump := DumpInetSockets(AllSocketStates)
	for _, proto := range NetTables {
		got, err := dump.Table(proto)
		if err != nil {
			t.Fatalf("DumpInetSockets(%s): %v", proto, err)
		}
		for _, e := range got {
			if _, ours := inodes[e.Inode]; ours {
				fromDump[e.Inode] = e
				tableOf[e.Inode] = proto
			}
		}
		if err := ReadNetTable("/proc/net", proto, func(e NetEntry) {
			if _, ours := inodes[e.Inode]; ours {
				fromFile[e.Inode] = e
				if tableOf[e.Inode] != proto {
					t.Errorf("socket %d is in net/%s but in the dump of %s", e.Inode, proto, tableOf[e.Inode])
				}
			}
		}); err != nil {
			t.Fatalf("ReadNetTable(%s): %v", proto, err)
		}
	}
	uid := uint32(unix.Geteuid())
	for inode, what := range inodes {
		d, inDump := fromDump[inode]
		f, inFile := fromFile[inode]
		if !inDump || !inFile {
			t.Errorf("%s (inode %d): in the dump %v, in the file %v", what, inode, inDump, inFile)
			continue
		}
		if d != f {
			t.Errorf("%s: dump %+v, file %+v", what, d, f)
		}
		if d.UID != uid || d.Local.Port() == 0 || !d.Local.Addr().Unmap().IsLoopback() {
			t.Errorf("%s: %+v is not a loopback socket of uid %d", what, d, uid)
		}
		if strings.HasPrefix(what, "tcp6-mapped") && (!d.Local.Addr().Is4In6() || tableOf[inode] != "tcp6") {
			t.Errorf("%s: %+v in %s, want a v4-mapped address in tcp6", what, d, tableOf[inode])
		}
		wantState := map[string]uint8{"listening": 10, "client": 1, "server": 1, "bound": 7, "connected": 1}[what[strings.IndexByte(what, ' ')+1:]]
		if d.State != wantState {
			t.Errorf("%s: state %d, want %d", what, d.State, wantState)
		}
	}
}

// BenchmarkInetSockets reads the inet sockets of this namespace, with
// about 200 of them open, from the four /proc/net files and with
// DumpInetSockets.
func BenchmarkInetSockets(b *testing.B) {
	proctest.OpenLoopbackSockets(b, 100)
	b.Run("files", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for _, proto := range NetTables {
				_ = ReadNetTable("/proc/net", proto, func(NetEntry) { n++ })
			}
		}
	})
	b.Run("netlink-held", func(b *testing.B) {
		for b.Loop() {
			dump := DumpInetSockets(HeldSocketStates)
			for _, proto := range NetTables {
				if _, err := dump.Table(proto); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("netlink", func(b *testing.B) {
		for b.Loop() {
			dump := DumpInetSockets(AllSocketStates)
			for _, proto := range NetTables {
				if _, err := dump.Table(proto); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// TestDumpInetSocketsHeldStates checks that HeldSocketStates leaves out a
// TIME_WAIT socket, which AllSocketStates and the file list, and keeps the
// sockets a process holds.
func TestDumpInetSocketsHeldStates(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// The side that closes first ends in TIME_WAIT.
	clientPort := client.LocalAddr().(*net.TCPAddr).Port
	client.Close()
	buf := make([]byte, 1)
	server.Read(buf) // EOF once the client's FIN arrives
	server.Close()
	listenPort := ln.Addr().(*net.TCPAddr).Port

	states := func(m uint32) (listening, timeWait bool) {
		tcp, err := DumpInetSockets(m).Table("tcp")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tcp {
			listening = listening || (e.State == 10 && int(e.Local.Port()) == listenPort)
			timeWait = timeWait || (e.State == 6 && int(e.Local.Port()) == clientPort)
		}
		return listening, timeWait
	}
	for range 100 {
		if _, tw := states(AllSocketStates); tw {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l, tw := states(AllSocketStates); !l || !tw {
		t.Fatalf("AllSocketStates: listener %v, TIME_WAIT socket of port %d %v", l, clientPort, tw)
	}
	if l, tw := states(HeldSocketStates); !l || tw {
		t.Errorf("HeldSocketStates: listener %v (want true), TIME_WAIT socket %v (want false)", l, tw)
	}
}

func TestRetryInterrupted(t *testing.T) {
	ok := []NetEntry{{Inode: 7}}
	for _, tt := range []struct {
		name    string
		results []error // of each call, in turn
		calls   int
		wantErr error
	}{
		{"whole", []error{nil}, 1, nil},
		{"interrupted once", []error{ErrDumpInterrupted, nil}, 2, nil},
		{"interrupted twice", []error{ErrDumpInterrupted, ErrDumpInterrupted, nil}, 2, ErrDumpInterrupted},
		{"failed", []error{unix.ENOENT, nil}, 1, unix.ENOENT},
		{"interrupted, then failed", []error{ErrDumpInterrupted, unix.ENOENT}, 2, unix.ENOENT},
	} {
		calls := 0
		got, err := retryInterrupted(func() ([]NetEntry, error) {
			err := tt.results[calls]
			calls++
			if err != nil {
				return nil, err
			}
			return ok, nil
		})
		if calls != tt.calls || !errors.Is(err, tt.wantErr) || (err == nil) != slices.Equal(got, ok) {
			t.Errorf("%s: %d calls, %+v, %v; want %d calls and %v", tt.name, calls, got, err, tt.calls, tt.wantErr)
		}
	}
}
