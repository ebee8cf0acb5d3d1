package collect

import (
	"os"
	"testing"

	"ptrule/builtin/proc"
	"ptrule/builtin/proctest"
)

// TestMain names users from a fixed table (root and nobody), never the
// database of the machine running the tests. It removes the benchmarks'
// generated trees at the end.
func TestMain(m *testing.M) {
	proc.SystemUserName = proctest.SystemUserName
	code := m.Run()
	proctest.RemoveGenerated()
	os.Exit(code)
}
