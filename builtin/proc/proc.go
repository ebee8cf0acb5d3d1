package builtin

// The /proc parsing shared by the collector (collect.go, sockets.go), the
// killer (kill.go) and the alert attachments (enrich.go): one reading of
// each kernel format, safe on a hostile or broken tree (never a panic,
// never an unbounded read), and allocation-free where the collector calls
// it for every process of every snapshot.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// kthreadFlag is PF_KTHREAD from include/linux/sched.h: the stat flags bit
// that marks a kernel thread.
const kthreadFlag = 0x00200000

// atClkTck is AT_CLKTCK from <elf.h>: the aux vector entry that carries the
// kernel's USER_HZ, the unit of the tick counts in /proc/PID/stat.
const atClkTck = 17

// defaultClockTicks is USER_HZ on every mainstream Linux architecture, used
// when the aux vector cannot be read.
const defaultClockTicks = 100

// maxProcFileSize bounds one read of a /proc file. Per-process files are far
// smaller; the bound keeps a hostile or broken tree from exhausting memory.
const maxProcFileSize = 16 << 20

// clockTicks returns the kernel's USER_HZ. Go has no sysconf(_SC_CLK_TCK)
// without cgo, but the kernel hands the same value to every process in
// its aux vector.
func clockTicks() uint64 {
	auxv, err := unix.Auxv()
	if err != nil {
		return defaultClockTicks
	}
	for _, kv := range auxv {
		if kv[0] == atClkTck && kv[1] > 0 {
			return uint64(kv[1])
		}
	}
	return defaultClockTicks
}

// vanished reports whether err means the process exited while it was
// read: the file is gone, or the kernel answered ESRCH for a process that
// was exiting.
func vanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH)
}

// pidStat holds the fields of /proc/PID/stat that ptrule uses: the
// collector's process facts, the killer's identity and safety checks, and
// the columns of the process table of alerts. The comments give each
// field's number in proc(5).
type pidStat struct {
	pid                 int    // 1
	comm                string // 2, without the parentheses
	state               string // 3, one letter
	ppid, pgrp, session int    // 4 to 6
	ttyNr, tpgid        int    // 7 and 8
	flags               uint64 // 9, PF_* bits
	utime, stime        uint64 // 14 and 15, clock ticks
	nice                int    // 19
	threads             int    // 20
	starttime           uint64 // 22, clock ticks after boot
	vsize               uint64 // 23, bytes
	rss                 int64  // 24, pages
}

// errPidStat reports a /proc/PID/stat line that cannot be parsed.
var errPidStat = errors.New("malformed stat line")

// pidStatFieldNo gives the proc(5) number of each numeric field that
// parsePidStat checks, in the order it checks them, for its errors.
var pidStatFieldNo = [...]int{4, 5, 6, 7, 8, 9, 14, 15, 19, 20, 22, 23, 24}

// parsePidStat parses /proc/PID/stat. The command name sits between the
// first '(' and the last ')', since it may itself contain parentheses,
// spaces and newlines; the pid before it and the fields after it are plain
// numbers, but for the one-letter state. A line is accepted only whole: a
// pid, a name, and the 22 fields after the name up to rss, every one that
// pidStat keeps well-formed.
func parsePidStat(data []byte) (pidStat, error) {
	var st pidStat
	l := bytes.IndexByte(data, '(')
	r := bytes.LastIndexByte(data, ')')
	if l < 0 || r < l {
		return st, fmt.Errorf("%w: no command name", errPidStat)
	}
	pid, ok := digitsInt(trimProcSpace(data[:l]))
	if !ok {
		return st, fmt.Errorf("%w: bad pid", errPidStat)
	}
	st.pid = pid
	st.comm = string(data[l+1 : r])

	// The fields after the name, numbered from 0 (state) as in proc(5)
	// minus 3; 22 of them reach rss.
	var f [22][]byte
	rest := data[r+1:]
	for i := range f {
		f[i], rest = cutField(rest)
		if len(f[i]) == 0 {
			return st, fmt.Errorf("%w: %d fields after the name, want %d", errPidStat, i, len(f))
		}
	}
	if len(f[0]) != 1 {
		return st, fmt.Errorf("%w: bad state %q", errPidStat, f[0])
	}
	st.state = string(f[0])

	var good [len(pidStatFieldNo)]bool
	st.ppid, good[0] = digitsInt(f[1])
	st.pgrp, good[1] = digitsInt(f[2])
	st.session, good[2] = digitsInt(f[3])
	st.ttyNr, good[3] = digitsInt(f[4])
	st.tpgid, good[4] = digitsInt(f[5])
	st.flags, good[5] = digitsUint(f[6])
	st.utime, good[6] = digitsUint(f[11])
	st.stime, good[7] = digitsUint(f[12])
	st.nice, good[8] = digitsInt(f[16])
	st.threads, good[9] = digitsInt(f[17])
	st.starttime, good[10] = digitsUint(f[19])
	st.vsize, good[11] = digitsUint(f[20])
	var rss int
	rss, good[12] = digitsInt(f[21])
	st.rss = int64(rss)
	for i, g := range good {
		if !g {
			return st, fmt.Errorf("%w: bad number in field %d", errPidStat, pidStatFieldNo[i])
		}
	}
	return st, nil
}

// readCapped reads at most limit bytes of a file and reports whether
// there was more. The files of /proc report no size, so the bound is what
// keeps a broken or hostile tree from exhausting memory.
func readCapped(path string, limit int) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, false, err
	}
	if len(data) > limit {
		return data[:limit], true, nil
	}
	return data, false, nil
}

// listPIDs returns the process ids of the /proc tree at root: the entries
// named by a positive number, in the order of the sorted listing ("10"
// before "9").
func listPIDs(root string) ([]int, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// appendFDs appends the descriptors named in a /proc/PID/fd listing to dst
// and returns dst sorted: descriptor order keeps what is read from them
// stable whatever order the directory lists them in.
func appendFDs(dst []int, names []string) []int {
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd >= 0 {
			dst = append(dst, fd)
		}
	}
	slices.Sort(dst)
	return dst
}

// statusField returns the rest of the first line of a /proc/PID/status
// (or any "Key: value" file) that starts with key, the colon included
// ("Uid:"), untrimmed; ok is false when no line does.
func statusField(data []byte, key string) (value []byte, ok bool) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) >= len(key) && string(line[:len(key)]) == key {
			return line[len(key):], true
		}
	}
	return nil, false
}

// netTables are the socket tables of a /proc/net directory; each file is
// named after the protocol of its sockets.
var netTables = []string{"tcp", "tcp6", "udp", "udp6"}

// tcpStates names the kernel's TCP states (include/net/tcp_states.h) by
// their number in the st column. UDP reuses ESTABLISHED and CLOSE.
var tcpStates = [...]string{
	1:  "ESTABLISHED",
	2:  "SYN_SENT",
	3:  "SYN_RECV",
	4:  "FIN_WAIT1",
	5:  "FIN_WAIT2",
	6:  "TIME_WAIT",
	7:  "CLOSE",
	8:  "CLOSE_WAIT",
	9:  "LAST_ACK",
	10: "LISTEN",
	11: "CLOSING",
	12: "NEW_SYN_RECV",
	13: "BOUND_INACTIVE",
}

// tcpStateName names the state number st, "UNKNOWN" if it has no name.
func tcpStateName(st uint8) string {
	if int(st) < len(tcpStates) && tcpStates[st] != "" {
		return tcpStates[st]
	}
	return "UNKNOWN"
}

// netEntry is one socket of a /proc/net/{tcp,udp}{,6} table.
type netEntry struct {
	// local and remote are as the kernel keeps them: the addresses of a
	// v6 table stay v6, v4-mapped ones included.
	local, remote    netip.AddrPort
	state            uint8
	txQueue, rxQueue uint64
	inode            uint64
}

// parseNetLine parses one line of /proc/net/{tcp,udp}{,6}:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//
// Addresses are "HEX:PORT". The kernel prints each 32-bit word of an
// address with %08X as it sits in memory, so the bytes of a word come out
// in host order: 127.0.0.1 is 0100007F on little-endian machines. The
// header, like any line whose fields do not parse or whose two addresses
// are not of one family, is refused.
func parseNetLine(line []byte) (e netEntry, ok bool) {
	var f [10][]byte
	rest := line
	for i := range f {
		f[i], rest = cutField(rest)
		if len(f[i]) == 0 {
			return e, false
		}
	}
	local, ok1 := parseHexAddrPort(f[1])
	remote, ok2 := parseHexAddrPort(f[2])
	state, ok3 := hexUint(f[3])
	tx, rx, _ := bytes.Cut(f[4], []byte{':'})
	txQueue, ok4 := hexUint(tx)
	rxQueue, ok5 := hexUint(rx)
	inode, ok6 := digitsUint(f[9])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || state > math.MaxUint8 || local.Addr().Is4() != remote.Addr().Is4() {
		return e, false
	}
	return netEntry{local: local, remote: remote, state: uint8(state), txQueue: txQueue, rxQueue: rxQueue, inode: inode}, true
}

// parseHexAddrPort parses "0100007F:1F90" or its 32-digit IPv6 form.
func parseHexAddrPort(b []byte) (netip.AddrPort, bool) {
	i := bytes.LastIndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, false
	}
	hexAddr, hexPort := b[:i], b[i+1:]
	port, ok := hexUint(hexPort)
	if !ok || port > math.MaxUint16 {
		return netip.AddrPort{}, false
	}
	switch len(hexAddr) {
	case 8:
		var a [4]byte
		if !putHexWord(a[:], hexAddr) {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom4(a), uint16(port)), true
	case 32:
		var a [16]byte
		for w := range 4 {
			if !putHexWord(a[4*w:], hexAddr[8*w:8*w+8]) {
				return netip.AddrPort{}, false
			}
		}
		return netip.AddrPortFrom(netip.AddrFrom16(a), uint16(port)), true
	}
	return netip.AddrPort{}, false
}

// putHexWord decodes one %08X word into dst in host byte order, undoing
// the kernel's print of a network-order word.
func putHexWord(dst, hex8 []byte) bool {
	v, ok := hexUint(hex8)
	if !ok {
		return false
	}
	binary.NativeEndian.PutUint32(dst, uint32(v))
	return true
}

// socketInode parses an fd link of the form "socket:[12345]".
func socketInode(link []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(link, []byte("socket:["))
	if !ok {
		return 0, false
	}
	num, ok := bytes.CutSuffix(rest, []byte("]"))
	if !ok {
		return 0, false
	}
	return digitsUint(num)
}

// cutField returns the first run of non-blank bytes in b and what
// follows it.
func cutField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isProcSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isProcSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

// isProcSpace reports whether c is an ASCII blank: ' ', or '\t', '\n',
// '\v', '\f' and '\r', which are consecutive.
func isProcSpace(c byte) bool {
	return c == ' ' || c-'\t' <= '\r'-'\t'
}

// trimProcSpace drops the blanks around b.
func trimProcSpace(b []byte) []byte {
	for len(b) > 0 && isProcSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isProcSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// digitsUint parses decimal digits without allocating.
func digitsUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	if len(b) <= 19 {
		// Nineteen digits cannot overflow: the per-digit check is only
		// for longer numbers, which the kernel prints for few fields.
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + uint64(c-'0')
		}
		return v, true
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// digitsInt parses an optionally negative decimal int without allocating.
func digitsInt(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	v, ok := digitsUint(b)
	if !ok || v > math.MaxInt {
		return 0, false
	}
	if neg {
		return -int(v), true
	}
	return int(v), true
}

// hexUint parses up to 16 hexadecimal digits without allocating.
func hexUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}
