// Package proc is the one place that knows /proc. It lists the processes
// of a tree, reads its files with a bound on every read (ReadCapped, and
// Reader for the collector's per-process reads through one directory
// handle), and parses each kernel format with a pure function of the bytes
// read (ParseStat, ParseNetLine, ParseCgroup, ParseLoadavg...), which is
// safe on a hostile or broken tree: never a panic, never an unbounded
// read, and allocation-free where the collector calls it for every process
// of every snapshot. Reading stays split from parsing so that every parser
// is fuzzed on its own.
//
// The collector (package collect), the killer (package builtin) and the
// alert attachments (package attach) read /proc only through this package;
// the coming cache and lazy reads belong here. It imports nothing of
// ptrule's: it knows the kernel's formats, not the rules' vocabulary.
package proc

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
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// KthreadFlag is PF_KTHREAD from include/linux/sched.h: the stat flags bit
// that marks a kernel thread.
const KthreadFlag = 0x00200000

// atClkTck is AT_CLKTCK from <elf.h>: the aux vector entry that carries the
// kernel's USER_HZ, the unit of the tick counts in /proc/PID/stat.
const atClkTck = 17

// DefaultClockTicks is USER_HZ on every mainstream Linux architecture, used
// when the aux vector cannot be read.
const DefaultClockTicks = 100

// MaxFileSize bounds one read of a /proc file. Per-process files are far
// smaller; the bound keeps a hostile or broken tree from exhausting memory.
const MaxFileSize = 16 << 20

// ClockTicks returns the kernel's USER_HZ. Go has no sysconf(_SC_CLK_TCK)
// without cgo, but the kernel hands the same value to every process in
// its aux vector.
func ClockTicks() uint64 {
	auxv, err := unix.Auxv()
	if err != nil {
		return DefaultClockTicks
	}
	for _, kv := range auxv {
		if kv[0] == atClkTck && kv[1] > 0 {
			return uint64(kv[1])
		}
	}
	return DefaultClockTicks
}

// Vanished reports whether err means the process exited while it was
// read: the file is gone, or the kernel answered ESRCH for a process that
// was exiting.
func Vanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH)
}

// Stat holds the fields of /proc/PID/stat that ptrule uses: the
// collector's process facts, the killer's identity and safety checks, and
// the columns of the process table of alerts. The comments give each
// field's number in proc(5).
type Stat struct {
	PID                 int    // 1
	Comm                string // 2, without the parentheses
	State               string // 3, one letter
	PPID, PGrp, Session int    // 4 to 6
	TTYNr, TPGID        int    // 7 and 8
	Flags               uint64 // 9, PF_* bits
	UTime, STime        uint64 // 14 and 15, clock ticks
	Nice                int    // 19
	Threads             int    // 20
	StartTime           uint64 // 22, clock ticks after boot
	VSize               uint64 // 23, bytes
	RSS                 int64  // 24, pages
}

// Zombie reports whether the process has exited and only waits to be
// reaped: such a process cannot be signalled into doing anything.
func (s Stat) Zombie() bool { return s.State == "Z" || s.State == "X" || s.State == "x" }

// KernelThread reports whether the process is a kernel thread: its stat
// flags carry PF_KTHREAD. The flag, not the pid, is the test, since in a
// PID namespace pid 2 and its children are ordinary processes.
func (s Stat) KernelThread() bool { return s.Flags&KthreadFlag != 0 }

// ErrStat reports a /proc/PID/stat line that cannot be parsed.
var ErrStat = errors.New("malformed stat line")

// statFieldNo gives the proc(5) number of each numeric field that
// ParseStat checks, in the order it checks them, for its errors.
var statFieldNo = [...]int{4, 5, 6, 7, 8, 9, 14, 15, 19, 20, 22, 23, 24}

// ParseStat parses /proc/PID/stat. The command name sits between the
// first '(' and the last ')', since it may itself contain parentheses,
// spaces and newlines; the pid before it and the fields after it are plain
// numbers, but for the one-letter state. A line is accepted only whole: a
// pid, a name, and the 22 fields after the name up to rss, every one that
// Stat keeps well-formed.
func ParseStat(data []byte) (Stat, error) {
	var st Stat
	l := bytes.IndexByte(data, '(')
	r := bytes.LastIndexByte(data, ')')
	if l < 0 || r < l {
		return st, fmt.Errorf("%w: no command name", ErrStat)
	}
	pid, ok := digitsInt(trimProcSpace(data[:l]))
	if !ok {
		return st, fmt.Errorf("%w: bad pid", ErrStat)
	}
	st.PID = pid
	st.Comm = string(data[l+1 : r])

	// The fields after the name, numbered from 0 (state) as in proc(5)
	// minus 3; 22 of them reach rss.
	var f [22][]byte
	rest := data[r+1:]
	for i := range f {
		f[i], rest = cutField(rest)
		if len(f[i]) == 0 {
			return st, fmt.Errorf("%w: %d fields after the name, want %d", ErrStat, i, len(f))
		}
	}
	if len(f[0]) != 1 {
		return st, fmt.Errorf("%w: bad state %q", ErrStat, f[0])
	}
	st.State = string(f[0])

	var good [len(statFieldNo)]bool
	st.PPID, good[0] = digitsInt(f[1])
	st.PGrp, good[1] = digitsInt(f[2])
	st.Session, good[2] = digitsInt(f[3])
	st.TTYNr, good[3] = digitsInt(f[4])
	st.TPGID, good[4] = digitsInt(f[5])
	st.Flags, good[5] = digitsUint(f[6])
	st.UTime, good[6] = digitsUint(f[11])
	st.STime, good[7] = digitsUint(f[12])
	st.Nice, good[8] = digitsInt(f[16])
	st.Threads, good[9] = digitsInt(f[17])
	st.StartTime, good[10] = digitsUint(f[19])
	st.VSize, good[11] = digitsUint(f[20])
	var rss int
	rss, good[12] = digitsInt(f[21])
	st.RSS = int64(rss)
	for i, g := range good {
		if !g {
			return st, fmt.Errorf("%w: bad number in field %d", ErrStat, statFieldNo[i])
		}
	}
	return st, nil
}

// ReadCapped reads at most limit bytes of a file and reports whether
// there was more. The files of /proc report no size, so the bound is what
// keeps a broken or hostile tree from exhausting memory.
func ReadCapped(path string, limit int) ([]byte, bool, error) {
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

// ListPIDs returns the process ids of the /proc tree at root: the entries
// named by a positive number, in the order of the sorted listing ("10"
// before "9").
func ListPIDs(root string) ([]int, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(fd)
	pids, err := readDirNumbers(fd, nil)
	if err != nil {
		return nil, &fs.PathError{Op: "getdents", Path: root, Err: err}
	}
	return slices.DeleteFunc(pids, func(pid int) bool { return pid <= 0 }), nil
}

// readDirNumbers appends to dst the numbers named in the directory open as
// fd (AppendDirentNumbers), in the directory's order. It reads the listing
// itself rather than through os.ReadDir, which costs an entry and a name
// string a process on every tick.
//
// It reads until getdents returns nothing: a read that leaves room in the
// buffer does not mean the end, since the kernel also stops a listing
// early for a pending signal, and Go's scheduler sends them.
func readDirNumbers(fd int, dst []int) ([]int, error) {
	var buf [16384]byte
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err != nil {
			return dst, err
		}
		if n <= 0 {
			return dst, nil
		}
		dst = AppendDirentNumbers(dst, buf[:n])
	}
}

// AppendFDs appends the descriptors named in a /proc/PID/fd listing to dst
// and returns dst sorted: descriptor order keeps what is read from them
// stable whatever order the directory lists them in.
func AppendFDs(dst []int, names []string) []int {
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd >= 0 {
			dst = append(dst, fd)
		}
	}
	slices.Sort(dst)
	return dst
}

// AppendDirentNumbers appends to dst the numbers named in buf, what
// getdents64 read of a directory such as /proc (process ids) or
// /proc/PID/fd (descriptors): linux_dirent64 records of an inode, an
// offset, a record length, a type and a NUL-terminated name. Names that
// are not numbers ("." and "..", "self", "sys") are skipped, and so is
// the rest of a buffer whose record does not fit in it.
func AppendDirentNumbers(dst []int, buf []byte) []int {
	const header = 19 // ino 8, off 8, reclen 2, type 1
	for len(buf) >= header {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < header || reclen > len(buf) {
			break
		}
		name := buf[header:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if fd, ok := atoiFD(name); ok {
			dst = append(dst, fd)
		}
		buf = buf[reclen:]
	}
	return dst
}

// atoiFD reads a descriptor number: decimal digits, no sign, at most
// nine of them.
func atoiFD(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// StatusField returns the rest of the first line of a /proc/PID/status
// (or any "Key: value" file) that starts with key, the colon included
// ("Uid:"), untrimmed; ok is false when no line does.
func StatusField(data []byte, key string) (value []byte, ok bool) {
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

// NetTables are the socket tables of a /proc/net directory; each file is
// named after the protocol of its sockets.
var NetTables = []string{"tcp", "tcp6", "udp", "udp6"}

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

// TCPStateName names the state number st, "UNKNOWN" if it has no name.
func TCPStateName(st uint8) string {
	if int(st) < len(tcpStates) && tcpStates[st] != "" {
		return tcpStates[st]
	}
	return "UNKNOWN"
}

// NetEntry is one socket of a /proc/net/{tcp,udp}{,6} table.
type NetEntry struct {
	// Local and Remote are as the kernel keeps them: the addresses of a
	// v6 table stay v6, v4-mapped ones included.
	Local, Remote    netip.AddrPort
	State            uint8
	TxQueue, RxQueue uint64
	// UID is the owner of the socket: the effective uid of the process
	// that created it, which is not always the one holding it now.
	UID   uint32
	Inode uint64
}

// ParseNetLine parses one line of /proc/net/{tcp,udp}{,6}:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//
// Addresses are "HEX:PORT". The kernel prints each 32-bit word of an
// address with %08X as it sits in memory, so the bytes of a word come out
// in host order: 127.0.0.1 is 0100007F on little-endian machines. The
// header, like any line whose fields do not parse or whose two addresses
// are not of one family, is refused.
func ParseNetLine(line []byte) (e NetEntry, ok bool) {
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
	uid, ok7 := digitsUint(f[7])
	inode, ok6 := digitsUint(f[9])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || state > math.MaxUint8 || uid > math.MaxUint32 || local.Addr().Is4() != remote.Addr().Is4() {
		return e, false
	}
	return NetEntry{Local: local, Remote: remote, State: uint8(state), TxQueue: txQueue, RxQueue: rxQueue, UID: uint32(uid), Inode: inode}, true
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

// SocketInode parses an fd link of the form "socket:[12345]".
func SocketInode(link []byte) (uint64, bool) {
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

// ExeDeletedSuffix is what the kernel appends to the exe link of a program
// whose file was unlinked or replaced; memfd programs always carry it. It
// is removed only when the kernel's link count says the file is gone: a
// file may carry the suffix in its own name.
const ExeDeletedSuffix = " (deleted)"

// MemfdPrefix starts the exe link of a program run from memory
// (memfd_create and fexecve). It has no file at all, so it counts as
// deleted whatever link count its inode shows.
const MemfdPrefix = "/memfd:"

// ParseStatusEUID returns the effective uid, the second number of the
// "Uid:" line of /proc/PID/status.
func ParseStatusEUID(data []byte) (int, bool) {
	rest, found := StatusField(data, "Uid:")
	if !found {
		return 0, false
	}
	_, rest = cutField(rest)
	euid, _ := cutField(rest)
	v, ok := digitsUint(euid)
	if !ok || v > math.MaxUint32 {
		return 0, false
	}
	return int(v), true
}

// SplitCmdline splits /proc/PID/cmdline into argv. Every argument ends in
// a NUL; trailing NULs are all dropped because programs that rewrite their
// title (nginx, postgres) pad it with NULs that are no arguments.
func SplitCmdline(data []byte) []string {
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\x00")
}

// JoinCmd joins argv with single spaces and trims trailing white space, as
// lfd does for its cmd: ignore entries.
func JoinCmd(argv []string) string {
	return strings.TrimRight(strings.Join(argv, " "), " \t\n\v\f\r")
}

// unitSuffixes are the systemd unit types that own processes or may show
// up as cgroups.
var unitSuffixes = []string{".service", ".scope", ".socket", ".mount", ".swap", ".target"}

// ParseCgroup returns the cgroup of /proc/PID/cgroup (the v2 path, else
// the first v1 path) and the systemd unit: from the v2 path, or from the
// name=systemd hierarchy on a v1 host.
func ParseCgroup(data []byte) (path, unit string) {
	var v1, systemd string
	haveV2, haveV1 := false, false
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		// hierarchy-ID:controller-list:path; the path may contain ':'.
		id, rest, ok1 := bytes.Cut(line, []byte{':'})
		ctrls, p, ok2 := bytes.Cut(rest, []byte{':'})
		if !ok1 || !ok2 || len(id) == 0 {
			continue
		}
		switch {
		case string(id) == "0" && len(ctrls) == 0:
			if !haveV2 {
				path, haveV2 = string(p), true
			}
		default:
			if !haveV1 {
				v1, haveV1 = string(p), true
			}
			for c := range bytes.SplitSeq(ctrls, []byte{','}) {
				if string(c) == "name=systemd" && systemd == "" {
					systemd = string(p)
				}
			}
		}
	}
	if haveV2 {
		unit = unitOf(path)
	} else {
		path = v1
	}
	if unit == "" {
		unit = unitOf(systemd)
	}
	return path, unit
}

// unitOf returns the deepest component of a cgroup path that names a
// systemd unit: "/user.slice/user-1000.slice/session-3.scope" is in
// "session-3.scope".
func unitOf(path string) string {
	for path != "" {
		i := strings.LastIndexByte(path, '/')
		name := path[i+1:]
		for _, suf := range unitSuffixes {
			if len(name) > len(suf) && strings.HasSuffix(name, suf) {
				return name
			}
		}
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return ""
}

// ParseUptime returns the first number of /proc/uptime, seconds with a
// decimal fraction, exactly.
func ParseUptime(data []byte) (time.Duration, bool) {
	f, _ := cutField(data)
	return parseSeconds(f)
}

// parseSeconds parses a non-negative decimal number of seconds such as
// "431.47" without going through floating point.
func parseSeconds(b []byte) (time.Duration, bool) {
	whole, frac, _ := bytes.Cut(b, []byte{'.'})
	secs, ok := digitsUint(whole)
	if !ok || secs > math.MaxInt64/uint64(time.Second)-1 {
		return 0, false
	}
	d := time.Duration(secs) * time.Second
	scale := time.Second
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, false
		}
		scale /= 10
		d += time.Duration(c-'0') * scale
	}
	return d, true
}

// ParseSystemStat returns the boot time and the number of CPUs from
// /proc/stat.
func ParseSystemStat(data []byte) (btime int64, cpus int, ok bool) {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		key, rest := cutField(line)
		switch {
		case string(key) == "btime":
			v, _ := cutField(rest)
			if n, good := digitsUint(v); good && n <= math.MaxInt64 {
				btime, ok = int64(n), true
			}
		case len(key) > 3 && string(key[:3]) == "cpu":
			if _, good := digitsUint(key[3:]); good {
				cpus++
			}
		}
	}
	return btime, cpus, ok
}

// Loadavg is /proc/loadavg: the load averages over 1, 5 and 15 minutes
// and the running and total number of scheduling entities. Its fields are
// those of engine.Load, so that the collector converts it.
type Loadavg struct {
	Avg1, Avg5, Avg15 float64
	Running, Total    int
}

// ParseLoadavg parses /proc/loadavg: "0.10 0.16 0.07 1/83 4448". Fields
// that do not parse stay zero.
func ParseLoadavg(data []byte) Loadavg {
	var l Loadavg
	var f [4][]byte
	rest := data
	for i := range f {
		f[i], rest = cutField(rest)
	}
	l.Avg1 = loadFloat(f[0])
	l.Avg5 = loadFloat(f[1])
	l.Avg15 = loadFloat(f[2])
	running, total, _ := bytes.Cut(f[3], []byte{'/'})
	l.Running, _ = digitsInt(running)
	l.Total, _ = digitsInt(total)
	return l
}

func loadFloat(b []byte) float64 {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// ParseMeminfo parses /proc/meminfo into its values by key, in KiB: the
// first number after the colon of each line. A line that does not parse
// is left out and the others stand.
func ParseMeminfo(data []byte) map[string]uint64 {
	m := map[string]uint64{}
	for line := range strings.Lines(string(data)) {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			m[key] = v
		}
	}
	return m
}
