package attach

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"ptrule/builtin/proc"
)

// failingSource is a sock_diag dump that could not read the tables in
// failed.
type failingSource struct {
	socketSource
	failed []string
}

func (s failingSource) Table(proto string) ([]proc.NetEntry, error) {
	if slices.Contains(s.failed, proto) {
		return nil, errors.New("no sock_diag for " + proto)
	}
	return s.socketSource.Table(proto)
}

// markedSource is a sock_diag dump in which the socket of one inode shows
// port 1, which tells a row taken from the dump from one read in a table.
type markedSource struct {
	socketSource
	inode uint64
}

func (s markedSource) Table(proto string) ([]proc.NetEntry, error) {
	entries, err := s.socketSource.Table(proto)
	for i, e := range entries {
		if e.Inode == s.inode {
			entries[i].Local = netip.AddrPortFrom(e.Local.Addr(), 1)
		}
	}
	return entries, err
}

// inodeOf is the inode of a socket.
func inodeOf(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		t.Fatalf("fstat: %v %v", err, serr)
	}
	return st.Ino
}

// TestEnrichNetworkConnectionsLiveDump opens loopback sockets and checks
// that the netstat attachment of the live /proc shows each the same way
// whether its table came from the sock_diag dump or, the dump having
// failed, from the file, with this process as its owner; that the dump is
// what is used when it works; and that a fake tree never asks for one.
func TestEnrichNetworkConnectionsLiveDump(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	bound, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	dialed, err := net.Dial("udp4", bound.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	locals := []string{ln.Addr().String(), client.LocalAddr().String(), bound.LocalAddr().String(), dialed.LocalAddr().String()}
	if ln6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		defer ln6.Close()
		locals = append(locals, ln6.Addr().String())
	}
	udpInode := inodeOf(t, bound.(*net.UDPConn))

	realDump := dumpOwnSockets
	defer func() { dumpOwnSockets = realDump }()
	render := func(source func(real socketSource) socketSource) string {
		t.Helper()
		calls := 0
		dumpOwnSockets = func() socketSource {
			calls++
			return source(realDump())
		}
		defer func() { dumpOwnSockets = realDump }()
		out := NewHostEnricher("/proc").NetworkConnections()
		if calls != 1 {
			t.Errorf("the sock_diag dump was asked %d times, want once", calls)
		}
		return out
	}
	// rowOf is the row whose local address is local.
	rowOf := func(out, local string) string {
		for line := range strings.Lines(out) {
			if f := strings.Fields(line); len(f) > 4 && f[3] == local {
				return line
			}
		}
		return ""
	}
	owner := strconv.Itoa(os.Getpid()) + "/"

	fromDump := render(func(d socketSource) socketSource { return d })
	fromFiles := render(func(d socketSource) socketSource { return failingSource{d, proc.NetTables} })
	for _, local := range locals {
		local = enrichAddr(netip.MustParseAddrPort(local))
		d, f := rowOf(fromDump, local), rowOf(fromFiles, local)
		if d == "" || d != f {
			t.Errorf("socket %s: from the dump %q, from the files %q", local, d, f)
		}
		if !strings.Contains(d, " "+owner) {
			t.Errorf("socket %s: row %q does not name this process (%s)", local, d, owner)
		}
	}
	// Notes are lines of their own in parentheses; running as root,
	// every table and descriptor is readable.
	for _, out := range []string{fromDump, fromFiles} {
		for line := range strings.Lines(out) {
			if strings.HasPrefix(line, "(") && os.Geteuid() == 0 {
				t.Errorf("note %q in a readable /proc", line)
			}
		}
	}

	// The dump is used: its mark shows, unless the udp table failed.
	marked := "127.0.0.1:1 "
	if out := render(func(d socketSource) socketSource { return markedSource{d, udpInode} }); !strings.Contains(out, marked) {
		t.Errorf("the dump's socket does not show:\n%s", out)
	}
	if out := render(func(d socketSource) socketSource {
		return failingSource{markedSource{d, udpInode}, []string{"udp"}}
	}); strings.Contains(out, marked) || rowOf(out, enrichAddr(netip.MustParseAddrPort(bound.LocalAddr().String()))) == "" {
		t.Errorf("the udp table did not come from its file:\n%s", out)
	}

	// A fake tree is read from its files only.
	dumpOwnSockets = func() socketSource {
		t.Error("a fake tree asked for a sock_diag dump")
		return failingSource{nil, proc.NetTables}
	}
	tr := newEnrichTree(t)
	tr.file("net/tcp", "header\n"+netLine(0, hexV4(0, 0, 0, 0)+":0016", hexV4(0, 0, 0, 0)+":0000", 10, 0, 0, 1000))
	if out := tr.enricher(time.Now()).NetworkConnections(); !strings.Contains(out, "0.0.0.0:22") {
		t.Errorf("fake tree:\n%s", out)
	}
}

// TestEnrichNetworkConnectionsOwnersShownOnly checks that owners are looked
// for only for the rows shown: with every shown socket named by the first
// process, the walk stops there, before a process whose descriptors cannot
// be read and the holder of a socket past the last row.
func TestEnrichNetworkConnectionsOwnersShownOnly(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	var b strings.Builder
	b.WriteString(header)
	lo := hexV4(127, 0, 0, 1)
	for i := range enrichMaxRows + 1 {
		inode := uint64(0) // TIME_WAIT: nobody holds it
		switch i {
		case 0:
			inode = 500
		case enrichMaxRows:
			inode = 501
		}
		b.WriteString(netLine(i, lo+":0050", lo+":C000", 6, 0, 0, inode))
	}
	tr := newEnrichTree(t)
	tr.file("net/tcp", b.String())
	tr.fds(10, map[int]string{3: "socket:[500]"})
	tr.file("10/comm", "web\n")
	tr.file("20/fd", "garbage")
	tr.fds(30, map[int]string{3: "socket:[501]"})
	tr.file("30/comm", "hidden\n")

	out := tr.enricher(time.Now()).NetworkConnections()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != enrichMaxRows+2 {
		t.Fatalf("%d lines, want the header, %d rows and the count of the rest", len(lines), enrichMaxRows)
	}
	if !strings.HasSuffix(lines[1], " 10/web") {
		t.Errorf("first row %q, want the owner 10/web", lines[1])
	}
	if last := lines[len(lines)-1]; last != "... 1 more sockets" {
		t.Errorf("last line %q", last)
	}
	if strings.Contains(out, "could not be read") || strings.Contains(out, "hidden") {
		t.Errorf("the walk went past the owner of the last shown socket:\n%s", out[len(out)-300:])
	}
}

// TestEnrichNetworkConnectionsOwnerWalkCap checks that the walk for owners
// stops after maxOwnerFDs descriptors and says so.
func TestEnrichNetworkConnectionsOwnerWalkCap(t *testing.T) {
	tr := newEnrichTree(t)
	tr.file("net/tcp", "header\n"+netLine(0, hexV4(0, 0, 0, 0)+":0016", hexV4(0, 0, 0, 0)+":0000", 10, 0, 0, 1000))
	tr.fds(10, map[int]string{0: "/dev/null", 1: "/dev/null", 2: "socket:[999]"})
	tr.fds(20, map[int]string{3: "socket:[1000]"})
	tr.file("20/comm", "sshd\n")

	e := tr.enricher(time.Now())
	if out := e.NetworkConnections(); !strings.Contains(out, " 20/sshd\n") || strings.Contains(out, "first") {
		t.Errorf("without a cap:\n%s", out)
	}
	e.maxOwnerFDs = 3
	want := "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name\n" +
		"tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      -\n" +
		"(owners were looked for in the first 3 open descriptors only: the sockets of later processes show no PID/Program)\n"
	if out := e.NetworkConnections(); out != want {
		t.Errorf("with a cap of 3 descriptors:\n%s\nwant\n%s", out, want)
	}
}
