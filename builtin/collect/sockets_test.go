package collect

import (
	"bufio"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"ptrule/builtin/proc"
	"ptrule/builtin/proctest"
	"ptrule/engine"
)

// BenchmarkSocketTable builds the socket table of the live /proc, with
// about 200 sockets open, from the four /proc/net files and from a
// sock_diag dump: the reason newSocketTable asks for a dump.
func BenchmarkSocketTable(b *testing.B) {
	proctest.OpenLoopbackSockets(b, 100)
	realDump := dumpOwnSockets
	defer func() { dumpOwnSockets = realDump }()
	for _, bb := range []struct {
		name   string
		source func() socketSource
	}{
		{"files", func() socketSource { return failingSource{nil, proc.NetTables} }},
		{"netlink", realDump},
	} {
		b.Run(bb.name, func(b *testing.B) {
			dumpOwnSockets = bb.source
			n := 0
			for b.Loop() {
				n = len(newSocketTable("/proc").byInode)
			}
			b.ReportMetric(float64(n), "sockets")
		})
	}
}

// TestCollectRealOtherNetNamespace starts a process in a network
// namespace of its own that listens on a TCP port, and finds its socket
// on the live /proc: the sock_diag dump reads only ptrule's namespace, so
// the other one's tables are read through the process, as before.
func TestCollectRealOtherNetNamespace(t *testing.T) {
	proctest.NeedRoot(t)
	perl, err := exec.LookPath("perl")
	if err != nil {
		t.Skip("no perl to listen in another namespace")
	}
	cmd := exec.Command(perl, "-MIO::Socket::INET", "-e",
		`$| = 1; $s = IO::Socket::INET->new(Listen => 5, LocalAddr => "0.0.0.0", LocalPort => 0, Proto => "tcp") or die "listen: $!"; print $s->sockport, "\n"; sleep 600`)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Cloneflags: syscall.CLONE_NEWNET,
		Credential: &syscall.Credential{Uid: proctest.NobodyUID, Gid: proctest.NobodyUID},
	}
	cmd.Dir = "/"
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("starting a process in a new network namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the port: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("port %q: %v", line, err)
	}

	realDump := dumpOwnSockets
	defer func() { dumpOwnSockets = realDump }()
	calls := 0
	dumpOwnSockets = func() socketSource { calls++; return realDump() }
	c, err := NewCollector("/proc")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Collect(CollectOptions{Read: engine.FactRead, PIDs: []int{cmd.Process.Pid}})
	if err != nil {
		t.Fatal(err)
	}
	want := engine.Socket{Proto: "tcp", LocalIP: "0.0.0.0", LocalPort: port, RemoteIP: "0.0.0.0", State: "LISTEN"}
	if p := procOf(t, snap, cmd.Process.Pid); !slices.Equal(p.Listening, []engine.Socket{want}) {
		t.Errorf("Listening = %+v, want %+v", p.Listening, want)
	}
	if calls != 1 {
		t.Errorf("the sock_diag dump was asked %d times, want once", calls)
	}
}
