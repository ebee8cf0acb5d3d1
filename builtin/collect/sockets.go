package builtin

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"ptrule/engine"
)

// tcpListen is TCP_LISTEN in the st column.
const tcpListen = 10

// socketKind says which list of a process a socket belongs to.
type socketKind uint8

const (
	// sockNeither: a TCP socket that neither listens nor has a peer
	// (being closed or not yet connected).
	sockNeither socketKind = iota
	// sockConnected: a TCP or UDP socket with a non-zero remote address.
	sockConnected
	// sockListening: a listening TCP socket or a bound, unconnected UDP one.
	sockListening
)

// netSocket is a socket of a /proc/net table as the collector reports it.
type netSocket struct {
	engine.Socket
	kind socketKind
}

// socketTable maps socket inodes to the TCP and UDP sockets of every
// network namespace seen so far. Inode numbers are unique across
// namespaces, so one map serves them all.
type socketTable struct {
	root    string
	byInode map[uint64]netSocket
	// loadedNS holds the network namespaces whose tables are in byInode,
	// by the text of their /proc/PID/ns/net link.
	loadedNS map[string]bool
	// inodes, seen and fds are reused per process.
	inodes []uint64
	seen   map[uint64]struct{}
	fds    []int
}

// newSocketTable reads the tables of the collector's own network
// namespace (root/net). Missing or unreadable tables, such as tcp6 on a
// host without IPv6, are empty.
func newSocketTable(root string) *socketTable {
	t := &socketTable{root: root, byInode: map[uint64]netSocket{}, loadedNS: map[string]bool{}, seen: map[uint64]struct{}{}}
	// root/net is root/self/net; remembering our namespace keeps its
	// tables from being read twice through some process's directory.
	if ns, err := os.Readlink(filepath.Join(root, "self/ns/net")); err == nil {
		t.loadedNS[ns] = true
	}
	t.load(filepath.Join(root, "net"))
	return t
}

// load adds the tables of the net directory dir.
func (t *socketTable) load(dir string) {
	for _, proto := range netTables {
		f, err := os.Open(filepath.Join(dir, proto))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			// The header fails to parse like any malformed line.
			e, ok := parseNetLine(sc.Bytes())
			if !ok || e.inode == 0 {
				continue
			}
			if s := socketOf(e, proto); s.kind != sockNeither {
				t.byInode[e.inode] = s
			}
		}
		f.Close()
	}
}

// readSockets fills the connections and listening sockets of the process
// whose directory is open as dir.
func (col *collection) readSockets(dir, pid int, p *engine.Process) {
	t := col.sockets
	fdDir, err := unix.Openat(dir, "fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fdDir), "fd")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return
	}
	// Descriptor order makes the lists stable from one snapshot to the
	// next whatever order the directory lists them in.
	t.fds = appendFDs(t.fds[:0], names)

	t.inodes = t.inodes[:0]
	// Clearing costs the map's capacity, so a map grown by one busy
	// server is dropped rather than cleared for every later process.
	if len(t.seen) > 1024 {
		t.seen = map[uint64]struct{}{}
	} else {
		clear(t.seen)
	}
	unknown := false
	var link [64]byte
	for _, fd := range t.fds {
		// Socket links are short; a longer target is a path and is cut,
		// which cannot make it look like a socket.
		n, err := unix.Readlinkat(fdDir, strconv.Itoa(fd), link[:])
		if err != nil {
			continue
		}
		inode, ok := socketInode(link[:n])
		if !ok {
			continue
		}
		// A socket dup'ed to several descriptors is listed once.
		if _, dup := t.seen[inode]; dup {
			continue
		}
		t.seen[inode] = struct{}{}
		t.inodes = append(t.inodes, inode)
		if _, known := t.byInode[inode]; !known {
			unknown = true
		}
	}
	// Unix sockets are never in the tables, but a socket may also belong
	// to another network namespace (a container): read that namespace's
	// tables once, through this process.
	if unknown {
		if ns, err := col.readlinkAt(dir, "ns/net"); err == nil && !t.loadedNS[ns] {
			t.loadedNS[ns] = true
			t.load(filepath.Join(t.root, strconv.Itoa(pid), "net"))
		}
	}
	for _, inode := range t.inodes {
		s, ok := t.byInode[inode]
		switch {
		case !ok:
		case s.kind == sockConnected:
			p.Connections = append(p.Connections, s.Socket)
		case s.kind == sockListening:
			p.Listening = append(p.Listening, s.Socket)
		}
	}
}

// socketOf is the collector's view of a line of the table proto.
func socketOf(e netEntry, proto string) netSocket {
	var s netSocket
	remote := e.remote.Addr().Unmap()
	s.Proto = proto
	s.LocalIP = e.local.Addr().Unmap().String()
	s.LocalPort = int(e.local.Port())
	s.RemoteIP = remote.String()
	s.RemotePort = int(e.remote.Port())
	s.State = tcpStateName(e.state)

	// Only an all-zero remote address means "no peer". lfd also dropped
	// every address whose hex text read as zero to Perl (its quirk Q1),
	// such as 10.0.0.10 or any v4-mapped address; that bug is not kept.
	tcp := proto == "tcp" || proto == "tcp6"
	switch {
	case !remote.IsUnspecified():
		s.kind = sockConnected
	case tcp && e.state == tcpListen:
		s.kind = sockListening
	case !tcp:
		s.kind = sockListening
	}
	return s
}
