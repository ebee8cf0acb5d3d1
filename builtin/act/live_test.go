package act

import (
	"bytes"
	"os"
	"ptrule/builtin/proctest"
	"strconv"
)

// These tests start real processes as nobody in their own sessions, and
// kill and reap only what they started.

const nobodyUID = 65534

// The real-process helpers are proctest's, shared with other packages.
var (
	needRoot  = proctest.NeedRoot
	sharedDir = proctest.SharedDir
	startAs   = proctest.StartAs
)

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && len(data) > i+2 && data[i+2] != 'Z'
}
