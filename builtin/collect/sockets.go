package collect

import (
	"path/filepath"
	"strconv"

	"ptrule/builtin/proc"
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
	// all, inodes, seen and fds are reused per process.
	all    []uint64
	inodes []uint64
	seen   map[uint64]struct{}
	fds    []int
}

// socketSource is where the sockets of the collector's own network
// namespace come from, table by table: a proc.InetSockets dump.
type socketSource interface {
	Table(proto string) ([]proc.NetEntry, error)
}

// dumpOwnSockets reads the sockets of ptrule's own network namespace over
// NETLINK_SOCK_DIAG, leaving out those no process holds (TIME_WAIT),
// which the collector drops anyway. Tests replace it to make the dump
// fail.
var dumpOwnSockets = func() socketSource { return proc.DumpInetSockets(proc.HeldSocketStates) }

// newSocketTable reads the sockets of the collector's own network
// namespace (root/net). On the real /proc they come from one
// NETLINK_SOCK_DIAG dump, which takes about 0.6 of the time of reading
// the four tables (BenchmarkSocketTable); a table the dump could not read,
// a fake tree and a tree whose self is not ptrule are read from the files.
// That fallback is silent: the files hold the same sockets. Missing or
// unreadable tables, such as tcp6 on a host without IPv6, are empty.
func newSocketTable(root string) *socketTable {
	t := &socketTable{root: root, byInode: map[uint64]netSocket{}, loadedNS: map[string]bool{}, seen: map[uint64]struct{}{}}
	// root/net is root/self/net; remembering our namespace keeps its
	// tables from being read twice through some process's directory.
	ns, err := proc.SelfNetNS(root)
	if err == nil {
		t.loadedNS[ns] = true
	}
	dir := filepath.Join(root, "net")
	// On a procfs whose self is ptrule, root/net is the namespace that
	// a netlink socket of ptrule's reaches.
	if err != nil || !proc.IsProcfs(root) {
		t.load(dir)
		return t
	}
	dump := dumpOwnSockets()
	for _, proto := range proc.NetTables {
		entries, err := dump.Table(proto)
		if err != nil {
			t.loadTable(dir, proto)
			continue
		}
		for _, e := range entries {
			t.add(e, proto)
		}
	}
	return t
}

// load adds the tables of the net directory dir.
func (t *socketTable) load(dir string) {
	for _, proto := range proc.NetTables {
		t.loadTable(dir, proto)
	}
}

// loadTable adds the table proto of the net directory dir.
func (t *socketTable) loadTable(dir, proto string) {
	proc.ReadNetTable(dir, proto, func(e proc.NetEntry) { t.add(e, proto) })
}

// add adds a socket of the table proto, unless no process can hold it
// (inode 0) or it neither listens nor has a peer.
func (t *socketTable) add(e proc.NetEntry, proto string) {
	if e.Inode == 0 {
		return
	}
	if s := socketOf(e, proto); s.kind != sockNeither {
		t.byInode[e.Inode] = s
	}
}

// readSockets fills the connections and listening sockets of the process
// whose directory is open as dir.
func (col *collection) readSockets(dir proc.Dir, pid int, p *engine.Process) {
	t := col.sockets
	all, fds, err := dir.AppendSocketInodes(t.all[:0], t.fds)
	t.all, t.fds = all, fds
	if err != nil {
		return
	}
	unknown := t.dedupe()
	// Unix sockets are never in the tables, but a socket may also belong
	// to another network namespace (a container): read that namespace's
	// tables once, through this process.
	if unknown {
		if ns, err := col.r.ReadlinkAt(dir, "ns/net"); err == nil && !t.loadedNS[ns] {
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

// dedupe sets inodes to the sockets of all without repeats, in the order
// they first come (a socket dup'ed to several descriptors is listed once),
// and reports whether one of them is in no table read so far.
func (t *socketTable) dedupe() (unknown bool) {
	t.inodes = t.inodes[:0]
	// Clearing costs the map's capacity, so a map grown by one busy
	// server is dropped rather than cleared for every later process.
	if len(t.seen) > 1024 {
		t.seen = map[uint64]struct{}{}
	} else {
		clear(t.seen)
	}
	for _, inode := range t.all {
		if _, dup := t.seen[inode]; dup {
			continue
		}
		t.seen[inode] = struct{}{}
		t.inodes = append(t.inodes, inode)
		if _, known := t.byInode[inode]; !known {
			unknown = true
		}
	}
	return unknown
}

// socketOf is the collector's view of a line of the table proto.
func socketOf(e proc.NetEntry, proto string) netSocket {
	var s netSocket
	remote := e.Remote.Addr().Unmap()
	s.Proto = proto
	s.LocalIP = e.Local.Addr().Unmap().String()
	s.LocalPort = int(e.Local.Port())
	s.RemoteIP = remote.String()
	s.RemotePort = int(e.Remote.Port())
	s.State = proc.TCPStateName(e.State)

	// Only an all-zero remote address means "no peer". lfd also dropped
	// every address whose hex text read as zero to Perl (its quirk Q1),
	// such as 10.0.0.10 or any v4-mapped address; that bug is not kept.
	tcp := proto == "tcp" || proto == "tcp6"
	switch {
	case !remote.IsUnspecified():
		s.kind = sockConnected
	case tcp && e.State == tcpListen:
		s.kind = sockListening
	case !tcp:
		s.kind = sockListening
	}
	return s
}
