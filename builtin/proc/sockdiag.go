package proc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The inet sockets of ptrule's own network namespace can be read two
// ways: the text tables /proc/net/{tcp,udp}{,6} (ReadNetTable), or a
// NETLINK_SOCK_DIAG dump, which is what ss(8) uses. Both give the same
// sockets with the same fields. Most of the cost of either is the kernel's
// walk of its whole TCP established hash table (262,144 buckets on a small
// VM), whatever the number of sockets: the files walk it once for tcp and
// again for tcp6 and print every socket as text for us to parse back,
// while the dump walks it once for both families (see DumpInetSockets) and
// can leave out the TIME_WAIT sockets that no process holds.
// BenchmarkInetSockets measures the two; on a loaded 2-core VM with 200
// sockets the dump took 0.55 to 0.65 of the time of the files (medians of
// seven interleaved runs, 2026-12-02). A dump reaches only the
// namespace of the socket that asks, so the tables of other namespaces
// (containers) are still read as files, through a process of the
// namespace.
//
// The request and its answer are a few fixed-size structures, so they are
// encoded here by hand (golang.org/x/sys/unix has the constants, not the
// inet_diag structures): a netlink library such as vishvananda/netlink
// would bring far more code than these hundred lines into a daemon that
// runs as root, for one request.

// Sizes and offsets of the kernel's structures, from
// include/uapi/linux/inet_diag.h.
const (
	// sizeofInetDiagReqV2 is struct inet_diag_req_v2: family, protocol,
	// ext, pad (one byte each), states (u32), then the sockid.
	sizeofInetDiagReqV2 = 56
	// sizeofInetDiagReq is struct inet_diag_req, the older request:
	// family, src_len, dst_len, ext (one byte each), the sockid, then
	// states and dbs (u32 each).
	sizeofInetDiagReq = 60
	// sizeofInetDiagMsg is struct inet_diag_msg: family, state, timer,
	// retrans (one byte each), the sockid (48 bytes), then expires,
	// rqueue, wqueue, uid and inode (u32 each).
	sizeofInetDiagMsg = 72
	// Offsets in inet_diag_msg. The ports and addresses of the sockid
	// are in network byte order, the rest in host order.
	diagFamily = 0
	diagState  = 1
	diagSport  = 4
	diagDport  = 6
	diagSrc    = 8
	diagDst    = 24
	diagRqueue = 56
	diagWqueue = 60
	diagUID    = 64
	diagInode  = 68
	// TCPDiagGetSock is TCPDIAG_GETSOCK, the type of the older dump
	// request for TCP sockets and of the messages that answer it.
	TCPDiagGetSock = 18
)

// States a dump asks for, as a mask of 1<<state. UDP sockets are in
// TCP_CLOSE or TCP_ESTABLISHED, which every mask holds.
const (
	// AllSocketStates are all the sockets of the /proc/net tables.
	AllSocketStates uint32 = 0xffffffff
	// HeldSocketStates leave out TIME_WAIT and NEW_SYN_RECV: sockets that
	// no process holds (their inode is 0). A busy web server has
	// thousands in TIME_WAIT, and each one the kernel writes costs it
	// about as much as a socket a process holds.
	HeldSocketStates = AllSocketStates &^ (1<<6 | 1<<12)
)

// ErrDumpInterrupted is the error of a sock_diag dump during which the
// kernel's socket tables changed so that the dump may have missed or
// repeated sockets (NLM_F_DUMP_INTR).
var ErrDumpInterrupted = errors.New("sock_diag dump interrupted by a change of the socket tables")

// errDiagMalformed is the error of an answer that is not what the kernel
// writes.
var errDiagMalformed = errors.New("malformed sock_diag answer")

// ParseSockDiag parses one datagram of the answer to an inet sock_diag
// dump request of sequence number seq, whose messages are of type msgType
// (SOCK_DIAG_BY_FAMILY, or TCPDIAG_GETSOCK for the older request that
// dumps both families), for the address family family (AF_INET or
// AF_INET6, or AF_UNSPEC for both) and protocol (IPPROTO_TCP or
// IPPROTO_UDP). It appends the sockets of the datagram to dst, reports
// done once the datagram ends the dump (NLMSG_DONE), and fails on an
// NLMSG_ERROR, an interrupted dump (ErrDumpInterrupted), a message of
// another sequence number, family or type, and anything truncated or
// malformed. On an error, dst comes back as it was given: a dump is used
// whole or not at all.
//
// A socket reads as its line of the /proc/net table of the same family and
// protocol would (ParseNetLine): addresses as the kernel keeps them (the
// v4-mapped addresses of a v6 socket stay v6, so the family of Local tells
// the table), the state number, the queues, owner and inode. The one
// difference the kernel makes, the send queue of a listening TCP socket
// (its backlog limit in a dump, always 0 in the table), is undone here.
func ParseSockDiag(dst []NetEntry, data []byte, seq uint32, msgType uint16, family, protocol uint8) (entries []NetEntry, done bool, err error) {
	start := len(dst)
	fail := func(err error) ([]NetEntry, bool, error) {
		return dst[:start], false, err
	}
	for len(data) > 0 {
		if len(data) < unix.NLMSG_HDRLEN {
			return fail(fmt.Errorf("%w: %d bytes left, less than a message header", errDiagMalformed, len(data)))
		}
		msgLen := binary.NativeEndian.Uint32(data[0:4])
		typ := binary.NativeEndian.Uint16(data[4:6])
		flags := binary.NativeEndian.Uint16(data[6:8])
		msgSeq := binary.NativeEndian.Uint32(data[8:12])
		if msgLen < unix.NLMSG_HDRLEN || uint64(msgLen) > uint64(len(data)) {
			return fail(fmt.Errorf("%w: message of %d bytes in %d", errDiagMalformed, msgLen, len(data)))
		}
		body := data[unix.NLMSG_HDRLEN:msgLen]
		// The next message starts at the length rounded up to 4; the
		// last one of a datagram may lack its padding.
		next := min(uint64(msgLen+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), uint64(len(data)))
		data = data[next:]

		if msgSeq != seq {
			return fail(fmt.Errorf("%w: sequence number %d, want %d", errDiagMalformed, msgSeq, seq))
		}
		if flags&unix.NLM_F_DUMP_INTR != 0 {
			return fail(ErrDumpInterrupted)
		}
		switch typ {
		case unix.NLMSG_DONE:
			return dst, true, nil
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return fail(fmt.Errorf("%w: error message of %d bytes", errDiagMalformed, len(body)))
			}
			code := int32(binary.NativeEndian.Uint32(body[0:4]))
			if code == 0 {
				// An acknowledgement, which a dump does not ask for.
				return fail(fmt.Errorf("%w: acknowledgement instead of a dump", errDiagMalformed))
			}
			if code > 0 || code < -4095 {
				return fail(fmt.Errorf("%w: error code %d", errDiagMalformed, code))
			}
			return fail(fmt.Errorf("sock_diag dump refused: %w", unix.Errno(-code)))
		case msgType:
		default:
			return fail(fmt.Errorf("%w: message type %d", errDiagMalformed, typ))
		}
		e, err := parseInetDiagMsg(body, family, protocol)
		if err != nil {
			return fail(err)
		}
		dst = append(dst, e)
	}
	return dst, false, nil
}

// parseInetDiagMsg parses the inet_diag_msg at the start of body (the
// attributes after it are not asked for and are skipped).
func parseInetDiagMsg(body []byte, family, protocol uint8) (NetEntry, error) {
	if len(body) < sizeofInetDiagMsg {
		return NetEntry{}, fmt.Errorf("%w: socket message of %d bytes", errDiagMalformed, len(body))
	}
	got := body[diagFamily]
	if (got != unix.AF_INET && got != unix.AF_INET6) || (family != unix.AF_UNSPEC && got != family) {
		return NetEntry{}, fmt.Errorf("%w: socket of family %d in a dump of family %d", errDiagMalformed, got, family)
	}
	addr := func(off int) netip.Addr {
		if got == unix.AF_INET {
			return netip.AddrFrom4([4]byte(body[off : off+4]))
		}
		return netip.AddrFrom16([16]byte(body[off : off+16]))
	}
	e := NetEntry{
		Local:   netip.AddrPortFrom(addr(diagSrc), binary.BigEndian.Uint16(body[diagSport:])),
		Remote:  netip.AddrPortFrom(addr(diagDst), binary.BigEndian.Uint16(body[diagDport:])),
		State:   body[diagState],
		RxQueue: uint64(binary.NativeEndian.Uint32(body[diagRqueue:])),
		TxQueue: uint64(binary.NativeEndian.Uint32(body[diagWqueue:])),
		UID:     binary.NativeEndian.Uint32(body[diagUID:]),
		Inode:   uint64(binary.NativeEndian.Uint32(body[diagInode:])),
	}
	if protocol == unix.IPPROTO_TCP && e.State == tcpListenState {
		// tcp_diag reports sk_max_ack_backlog as the send queue of a
		// listener; /proc/net/tcp prints write_seq - snd_una, which is
		// 0 for a socket that never sent.
		e.TxQueue = 0
	}
	return e, nil
}

// tcpListenState is TCP_LISTEN.
const tcpListenState = 10

// diagRecvBuf is the size of the buffer a dump is read into. The kernel
// sizes the datagrams of a dump by the reader's earlier buffers, capped
// near 32 KiB, so this holds any of them.
const diagRecvBuf = 64 << 10

// diagTimeout bounds the wait for each datagram of a dump.
const diagTimeout = 5 * time.Second

// InetSockets is one reading of the TCP and UDP sockets of ptrule's own
// network namespace over NETLINK_SOCK_DIAG: the sockets ReadNetTable would
// read from the tables of NetTables under /proc/net (those in the states
// asked for), for a fraction of the cost.
type InetSockets struct {
	tables map[string][]NetEntry
	errs   map[string]error
}

// Table returns the sockets of the table proto (one of NetTables), or the
// error that kept the dump from reading them, in which case the caller
// reads the table's file instead (a kernel without the sock_diag module
// for the protocol, say).
func (s *InetSockets) Table(proto string) ([]NetEntry, error) {
	if err, failed := s.errs[proto]; failed {
		return nil, err
	}
	if t, ok := s.tables[proto]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("sock_diag dump: no socket table %q", proto)
}

// DumpInetSockets reads the TCP and UDP sockets of ptrule's own network
// namespace in the states of the mask states (AllSocketStates or
// HeldSocketStates) with three NETLINK_SOCK_DIAG dumps. The TCP sockets
// of both families come from one dump: the kernel walks its whole
// established hash table for each TCP dump (about 1.4 ms for 262,144
// buckets on a small VM, whatever the number of sockets), so the older
// request (TCPDIAG_GETSOCK), which takes both families in one walk,
// halves the cost of asking per family. UDP is asked per family, which
// the newer request needs; its walk is short. A dump that the kernel
// interrupts because its tables changed is asked again once; one that
// fails leaves its tables to the files, which Table says.
func DumpInetSockets(states uint32) *InetSockets {
	s := &InetSockets{tables: make(map[string][]NetEntry, len(NetTables)), errs: map[string]error{}}
	fail := func(err error, protos ...string) {
		for _, p := range protos {
			s.errs[p] = err
		}
	}
	buf := make([]byte, diagRecvBuf)
	// One socket serves every dump, which lets the kernel size its
	// datagrams by our buffer after the first. A dump that fails
	// half-way leaves the rest of its answer queued on the socket, so a
	// failure closes it: a retry, or the next table, gets a fresh one
	// rather than read what is left of another dump.
	fd := -1
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	var seq uint32
	for _, d := range []struct {
		msgType          uint16
		family, protocol uint8
		v4, v6           string
	}{
		{TCPDiagGetSock, unix.AF_UNSPEC, unix.IPPROTO_TCP, "tcp", "tcp6"},
		{unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, unix.IPPROTO_UDP, "udp", ""},
		{unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, unix.IPPROTO_UDP, "", "udp6"},
	} {
		entries, err := retryInterrupted(func() ([]NetEntry, error) {
			seq++
			if fd < 0 {
				var err error
				if fd, err = openSockDiag(); err != nil {
					return nil, err
				}
			}
			entries, err := dumpOnce(fd, buf, seq, d.msgType, d.family, d.protocol, states)
			if err != nil {
				unix.Close(fd)
				fd = -1
			}
			return entries, err
		})
		if err != nil {
			fail(fmt.Errorf("sock_diag dump of %s: %w", strings.Trim(d.v4+" "+d.v6, " "), err), d.v4, d.v6)
			continue
		}
		for _, e := range entries {
			if e.Local.Addr().Is4() {
				s.tables[d.v4] = append(s.tables[d.v4], e)
			} else {
				s.tables[d.v6] = append(s.tables[d.v6], e)
			}
		}
		// An empty table is read, not failed.
		for _, p := range []string{d.v4, d.v6} {
			if _, ok := s.tables[p]; !ok && p != "" {
				s.tables[p] = []NetEntry{}
			}
		}
	}
	delete(s.tables, "")
	return s
}

// retryInterrupted runs dump, and runs it once more if the kernel
// interrupted it (ErrDumpInterrupted): the tables change all the time on
// a busy host, but rarely twice in the few hundred microseconds of a dump.
// A second interruption is an error, and the caller reads the files.
func retryInterrupted(dump func() ([]NetEntry, error)) ([]NetEntry, error) {
	entries, err := dump()
	if errors.Is(err, ErrDumpInterrupted) {
		entries, err = dump()
	}
	return entries, err
}

// openSockDiag opens and binds a NETLINK_SOCK_DIAG socket with a receive
// timeout.
func openSockDiag() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, fmt.Errorf("opening a netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("binding the netlink socket: %w", err)
	}
	// The kernel answers at once; a dump that stalls is given up and the
	// tables are read as files.
	tv := unix.NsecToTimeval(diagTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("setting a receive timeout: %w", err)
	}
	return fd, nil
}

// diagRequest is a dump request of sequence number seq for the sockets
// in the states of the mask states: a netlink header
// and, for SOCK_DIAG_BY_FAMILY, struct inet_diag_req_v2 (family,
// protocol, ext, pad, states, sockid), or, for TCPDIAG_GETSOCK, struct
// inet_diag_req (family, src_len, dst_len, ext, sockid, states, dbs),
// which the kernel reads as a request for both families.
func diagRequest(seq uint32, msgType uint16, family, protocol uint8, states uint32) []byte {
	size := sizeofInetDiagReqV2
	if msgType == TCPDiagGetSock {
		size = sizeofInetDiagReq
	}
	req := make([]byte, unix.NLMSG_HDRLEN+size)
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], msgType)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], seq)
	r := req[unix.NLMSG_HDRLEN:]
	if msgType == TCPDiagGetSock {
		r[0] = family
		binary.NativeEndian.PutUint32(r[52:56], states)
	} else {
		r[0], r[1] = family, protocol
		binary.NativeEndian.PutUint32(r[4:8], states)
	}
	return req
}

// dumpOnce sends one dump request on the netlink socket fd and reads its
// whole answer, using buf for each datagram.
func dumpOnce(fd int, buf []byte, seq uint32, msgType uint16, family, protocol uint8, states uint32) ([]NetEntry, error) {
	if err := unix.Sendto(fd, diagRequest(seq, msgType, family, protocol, states), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sending the request: %w", err)
	}
	var entries []NetEntry
	for {
		n, _, recvFlags, from, err := unix.Recvmsg(fd, buf, nil, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the answer: %w", err)
		}
		if recvFlags&unix.MSG_TRUNC != 0 {
			return nil, fmt.Errorf("%w: a datagram longer than %d bytes", errDiagMalformed, len(buf))
		}
		// Only the kernel (port 0) answers; CAP_NET_ADMIN is needed to
		// send to a sock_diag socket, but a stray datagram is refused
		// all the same.
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			return nil, fmt.Errorf("%w: a datagram not from the kernel", errDiagMalformed)
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: an empty datagram before the end of the dump", errDiagMalformed)
		}
		var done bool
		entries, done, err = ParseSockDiag(entries, buf[:n], seq, msgType, family, protocol)
		if err != nil {
			return nil, err
		}
		if done {
			return entries, nil
		}
	}
}
