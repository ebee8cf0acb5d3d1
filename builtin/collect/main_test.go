package collect

import (
	"os"
	"testing"

	"ptrule/builtin/proc"
	"ptrule/builtin/proctest"
)

// TestMain names users from a fixed table (root and nobody), never the
// database of the machine running the tests, and removes the benchmarks'
// generated trees at the end. Started as a helper, the test binary runs
// that instead.
func TestMain(m *testing.M) {
	if os.Getenv(nonDumpableEnv) != "" {
		runNonDumpable()
	}
	proc.SystemUserName = proctest.SystemUserName
	code := m.Run()
	proctest.RemoveGenerated()
	os.Exit(code)
}
