package builtin

// The /proc parsing shared by the collector (collect.go, sockets.go), the
// killer (kill.go) and the alert attachments (enrich.go): one reading of
// each kernel format, safe on a hostile or broken tree (never a panic,
// never an unbounded read), and allocation-free where the collector calls
// it for every process of every snapshot.

import (
	"errors"
	"io/fs"
	"math"

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

func isProcSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// digitsUint parses decimal digits without allocating.
func digitsUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
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
