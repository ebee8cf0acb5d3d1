package act

import (
	"os"
	"testing"

	"ptrule/builtin/proc"
	"ptrule/builtin/proctest"
)

// TestMain names users from a fixed table (root and nobody), never the
// database of the machine running the tests.
func TestMain(m *testing.M) {
	proc.SystemUserName = proctest.SystemUserName
	os.Exit(m.Run())
}
