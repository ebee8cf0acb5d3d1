package collect

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"ptrule/builtin/proc"
	"ptrule/builtin/proctest"
	"ptrule/engine"
)

// nobody is the uid of the unprivileged processes of the tests.
const nobody = 65534

// collectTree collects a fake tree and fails the test on error.
func collectTree(t *testing.T, tree *proctest.Tree, opts CollectOptions) (*Collector, *engine.Snapshot) {
	t.Helper()
	c, err := NewCollector(tree.Root())
	if err != nil {
		t.Fatalf("NewCollector: %v", err)
	}
	if c.ticks != proctest.ClockTicks {
		t.Skipf("kernel USER_HZ is %d; the fake trees assume %d", c.ticks, proctest.ClockTicks)
	}
	snap, err := c.Collect(opts)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	t.Cleanup(snap.Release)
	return c, snap
}

// readFacts is what a collection reads at once: everything, or everything
// but the sockets.
func readFacts(sockets bool) engine.Facts {
	if sockets {
		return engine.FactRead
	}
	return engine.FactRead &^ engine.FactSockets
}

// procOf returns the process pid of snap, failing the test if it is absent.
func procOf(t *testing.T, snap *engine.Snapshot, pid int) engine.Process {
	t.Helper()
	for i := range snap.Procs {
		if p := &snap.Procs[i]; p.PID == pid {
			// Whatever the collection left unread is read now, through
			// the directory it kept open.
			p.Need(engine.FactAll)
			return *p
		}
	}
	t.Fatalf("pid %d not collected; have %v", pid, pids(snap))
	return engine.Process{}
}

func pids(snap *engine.Snapshot) []int {
	var out []int
	for _, p := range snap.Procs {
		out = append(out, p.PID)
	}
	return out
}

func TestCollectHostAndLoad(t *testing.T) {
	tree := proctest.New(t)
	boot := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tree.SetHost(proctest.Host{Name: "web1", CPUs: 3, Boot: boot, Uptime: 5*time.Hour + 30*time.Second + 250*time.Millisecond})
	tree.SetLoad(proctest.Load{Avg1: 1.5, Avg5: 0.25, Avg15: 3, Running: 2, Total: 345})
	tree.AddProc(proctest.Proc{PID: 1, Exe: "/sbin/init"})
	tree.AddProc(proctest.Proc{PID: 7, State: "Z"})

	before := time.Now()
	_, snap := collectTree(t, tree, CollectOptions{})
	after := time.Now()

	want := engine.Host{Name: "web1", CPUs: 3, Uptime: 5*time.Hour + 30*time.Second + 250*time.Millisecond, Boot: boot, Procs: 2}
	if got := snap.Host; got.Name != want.Name || got.CPUs != want.CPUs || got.Uptime != want.Uptime || !got.Boot.Equal(want.Boot) || got.Procs != want.Procs {
		t.Errorf("Host = %+v, want %+v", got, want)
	}
	if wantLoad := (engine.Load{Avg1: 1.5, Avg5: 0.25, Avg15: 3, Running: 2, Total: 345}); snap.Load != wantLoad {
		t.Errorf("Load = %+v, want %+v", snap.Load, wantLoad)
	}
	if snap.Time.Before(before) || snap.Time.After(after) {
		t.Errorf("Time = %v, want between %v and %v", snap.Time, before, after)
	}
}

func TestCollectProcessFields(t *testing.T) {
	// Names come from the tree's own passwd, never the machine's: uid
	// 1000 has a name on many machines and none here.
	const nobody = 65534
	tree := proctest.New(t)
	tree.SetPasswd("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
	tree.AddProc(proctest.Proc{PID: 12, UID: 1000, Exe: "/opt/y"})
	real := 1000
	tree.AddProc(proctest.Proc{
		PID: 4242, PPID: 4000, PGID: 4100, SID: 4000,
		UID: nobody, RealUID: &real,
		Exe:     "/usr/bin/php",
		Cmdline: []string{"php", "-f", "x.php", "  "},
		State:   "R",
		Age:     2*time.Hour + 30*time.Millisecond,
		UTime:   90 * time.Second, STime: 1500 * time.Millisecond,
		VMSize: 900 << 20, RSS: 300 << 20,
		Threads: 7,
		Cgroup:  "0::/system.slice/php-fpm.service",
	})
	tree.AddProc(proctest.Proc{PID: 10, UID: 0, Exe: "/usr/sbin/sshd", StartTicks: 12345})
	tree.AddProc(proctest.Proc{PID: 11, UID: 3999999, Exe: "/opt/x"})

	_, snap := collectTree(t, tree, CollectOptions{})
	host := tree.Host()

	p := procOf(t, snap, 4242)
	started := host.Uptime - (2*time.Hour + 30*time.Millisecond)
	want := engine.Process{
		PID: 4242, PPID: 4000, PGID: 4100, SID: 4000,
		UID: nobody, User: "nobody",
		Exe:     "/usr/bin/php",
		Comm:    "php",
		Cmdline: []string{"php", "-f", "x.php", "  "},
		Cmd:     "php -f x.php",
		State:   "R",
		Start:   host.Boot.Add(started),
		// The tree writes whole ticks: 30ms is 3 ticks at USER_HZ 100.
		StartTicks: uint64(started / (10 * time.Millisecond)),
		Age:        2*time.Hour + 30*time.Millisecond,
		CPU:        91500 * time.Millisecond,
		VMSize:     900 << 20,
		RSS:        300 << 20,
		Threads:    7,
		Cgroup:     "/system.slice/php-fpm.service",
		Unit:       "php-fpm.service",
	}
	assertProc(t, p, want)

	if p := procOf(t, snap, 10); p.User != "root" || p.StartTicks != 12345 || !p.Start.Equal(host.Boot.Add(123450*time.Millisecond)) || p.Age != host.Uptime-123450*time.Millisecond {
		t.Errorf("pid 10: user %q start ticks %d start %v age %v", p.User, p.StartTicks, p.Start, p.Age)
	}
	if p := procOf(t, snap, 11); p.User != "3999999" || p.UID != 3999999 {
		t.Errorf("pid 11: uid %d user %q, want the decimal uid as name", p.UID, p.User)
	}
	if p := procOf(t, snap, 12); p.User != "1000" {
		t.Errorf("pid 12: user %q, want 1000: the tree's passwd does not name it", p.User)
	}
}

func assertProc(t *testing.T, got, want engine.Process) {
	t.Helper()
	if !got.Start.Equal(want.Start) {
		t.Errorf("pid %d: Start = %v, want %v", want.PID, got.Start, want.Start)
	}
	got.Start, want.Start = time.Time{}, time.Time{}
	if !equalProc(got, want) {
		t.Errorf("pid %d:\n got %+v\nwant %+v", want.PID, got, want)
	}
}

func equalProc(a, b engine.Process) bool {
	return a.PID == b.PID && a.PPID == b.PPID && a.PGID == b.PGID && a.SID == b.SID &&
		a.UID == b.UID && a.User == b.User && a.Exe == b.Exe && a.ExeDeleted == b.ExeDeleted &&
		a.Comm == b.Comm && slices.Equal(a.Cmdline, b.Cmdline) && a.Cmd == b.Cmd && a.State == b.State &&
		a.Start.Equal(b.Start) && a.StartTicks == b.StartTicks && a.Age == b.Age && a.CPU == b.CPU &&
		a.VMSize == b.VMSize && a.RSS == b.RSS && a.Threads == b.Threads &&
		slices.Equal(a.Connections, b.Connections) && slices.Equal(a.Listening, b.Listening) &&
		a.ParentExe == b.ParentExe && a.ParentExeDeleted == b.ParentExeDeleted && a.PgrpExe == b.PgrpExe &&
		a.Unit == b.Unit && a.Cgroup == b.Cgroup
}

func TestCollectExeAndComm(t *testing.T) {
	tests := []struct {
		name        string
		proc        proctest.Proc
		wantExe     string
		wantDeleted bool
		wantComm    string
	}{
		{"plain", proctest.Proc{Exe: "/usr/bin/x"}, "/usr/bin/x", false, "x"},
		{"deleted", proctest.Proc{Exe: "/usr/bin/x", ExeDeleted: true}, "/usr/bin/x", true, "x"},
		{"memfd", proctest.Proc{Exe: "/memfd:payload", ExeDeleted: true, Comm: "3"}, "/memfd:payload", true, "3"},
		{"path with spaces", proctest.Proc{Exe: "/opt/my app/bin (x)/run"}, "/opt/my app/bin (x)/run", false, "run"},
		{"deleted twice", proctest.Proc{Exe: "/tmp/a (deleted)", ExeDeleted: true}, "/tmp/a (deleted)", true, "a (deleted)"},
		// As root, EACCES cannot be provoked; a regular file in place of
		// the link fails readlink with EINVAL, which takes the same path.
		{"unreadable", proctest.Proc{Exe: "/usr/bin/x", ExeUnreadable: true}, "", false, "x"},
		{"no link", proctest.Proc{Comm: "worker"}, "", false, "worker"},
		{"comm with parens", proctest.Proc{Exe: "/bin/x", Comm: "a) (b"}, "/bin/x", false, "a) (b"},
		{"comm with newline", proctest.Proc{Exe: "/bin/x", Comm: "evil\n) S 1 1 1"}, "/bin/x", false, "evil\n) S 1 1 1"},
		{"comm empty parens", proctest.Proc{Exe: "/bin/x", Comm: ")"}, "/bin/x", false, ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := proctest.New(t)
			tt.proc.PID, tt.proc.PPID = 300, 1
			tree.AddProc(tt.proc)
			_, snap := collectTree(t, tree, CollectOptions{})
			p := procOf(t, snap, 300)
			if p.Exe != tt.wantExe || p.ExeDeleted != tt.wantDeleted || p.Comm != tt.wantComm {
				t.Errorf("exe %q deleted %v comm %q, want %q %v %q", p.Exe, p.ExeDeleted, p.Comm, tt.wantExe, tt.wantDeleted, tt.wantComm)
			}
			if p.PPID != 1 || p.State != "S" {
				t.Errorf("fields after comm misread: ppid %d state %q", p.PPID, p.State)
			}
		})
	}
}

func TestCollectCmdline(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    []string
		wantCmd string
	}{
		{"empty", "", nil, ""},
		{"one", "sleep\x00", []string{"sleep"}, "sleep"},
		{"args", "sh\x00-c\x00echo  hi\x00", []string{"sh", "-c", "echo  hi"}, "sh -c echo  hi"},
		{"empty arg inside", "a\x00\x00b\x00", []string{"a", "", "b"}, "a  b"},
		{"title padded with NULs", "nginx: worker process\x00\x00\x00\x00", []string{"nginx: worker process"}, "nginx: worker process"},
		{"title without NUL", "sshd: bob [priv]", []string{"sshd: bob [priv]"}, "sshd: bob [priv]"},
		{"trailing blanks", "x\x00y \t\n\x00", []string{"x", "y \t\n"}, "x y"},
		{"bytes", "\xff\xfe\x00\x01\x00", []string{"\xff\xfe", "\x01"}, "\xff\xfe \x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := proctest.New(t)
			tree.AddProc(proctest.Proc{PID: 5, Exe: "/bin/x"})
			if err := os.WriteFile(filepath.Join(tree.Dir(5), "cmdline"), []byte(tt.raw), 0o644); err != nil {
				t.Fatal(err)
			}
			_, snap := collectTree(t, tree, CollectOptions{})
			p := procOf(t, snap, 5)
			if !slices.Equal(p.Cmdline, tt.want) || p.Cmd != tt.wantCmd {
				t.Errorf("cmdline %q cmd %q, want %q %q", p.Cmdline, p.Cmd, tt.want, tt.wantCmd)
			}
		})
	}
}

func TestCollectKernelThreadsAndZombies(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 1, PPID: 0, Exe: "/sbin/init", Cmdline: []string{"/sbin/init"}, VMSize: 1 << 20})
	// kthreadd and its children: flagged, and also recognised by PID 2
	// when a kernel (or a tree) lacks the flag.
	tree.AddProc(proctest.Proc{PID: 2, PPID: 0, Comm: "kthreadd", KernelThread: true})
	tree.AddProc(proctest.Proc{PID: 3, PPID: 2, Comm: "rcu_gp", KernelThread: true, State: "I"})
	tree.AddProc(proctest.Proc{PID: 40, PPID: 2, Comm: "kworker/0:1"})
	tree.AddProc(proctest.Proc{PID: 41, PPID: 7, Comm: "flagged", KernelThread: true})
	// A zombie: no exe, no cmdline, no memory; it stays.
	tree.AddProc(proctest.Proc{PID: 50, PPID: 1, Comm: "defunct", State: "Z"})
	// In a PID namespace PID 2 is an ordinary process with a program.
	tree.AddProc(proctest.Proc{PID: 60, PPID: 2, Exe: "/bin/sh", Cmdline: []string{"sh"}, VMSize: 4096})

	_, snap := collectTree(t, tree, CollectOptions{})
	if got, want := pids(snap), []int{1, 50, 60}; !slices.Equal(got, want) {
		t.Fatalf("pids = %v, want %v", got, want)
	}
	z := procOf(t, snap, 50)
	if z.State != "Z" || z.Exe != "" || z.Comm != "defunct" || z.Cmdline != nil {
		t.Errorf("zombie = %+v", z)
	}
	if snap.Host.Procs != 3 {
		t.Errorf("Host.Procs = %d, want 3 (zombies included)", snap.Host.Procs)
	}
}

func TestCollectVanishedAndBroken(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		keep   bool
		check  func(t *testing.T, p engine.Process)
	}{
		{name: "stat missing", damage: remove("stat")},
		{name: "status missing", damage: remove("status")},
		{name: "cmdline missing", damage: remove("cmdline")},
		{name: "empty directory", damage: func(t *testing.T, dir string) {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "stat garbage", damage: write("stat", "not a stat line")},
		{name: "stat truncated", damage: write("stat", "300 (x) S 1 300 300")},
		{name: "stat ends at paren", damage: write("stat", "300 (x)")},
		{name: "stat bad number", damage: write("stat", "300 (x) S one 300 300 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0\n")},
		{name: "exe missing", damage: remove("exe"), keep: true, check: func(t *testing.T, p engine.Process) {
			if p.Exe != "" || p.Cmd != "x --flag" {
				t.Errorf("exe %q cmd %q", p.Exe, p.Cmd)
			}
		}},
		{name: "cgroup missing", damage: remove("cgroup"), keep: true, check: func(t *testing.T, p engine.Process) {
			if p.Cgroup != "" || p.Unit != "" || p.Exe != "/usr/bin/x" {
				t.Errorf("cgroup %q unit %q exe %q", p.Cgroup, p.Unit, p.Exe)
			}
		}},
		{name: "cgroup garbage", damage: write("cgroup", "\x00\n:::\nnonsense"), keep: true, check: func(t *testing.T, p engine.Process) {
			if p.Unit != "" {
				t.Errorf("unit %q", p.Unit)
			}
		}},
		{name: "fd missing", damage: remove("fd"), keep: true},
		{
			// Without a usable Uid line the owner of the process
			// directory stands in for the effective uid.
			name: "status without uid", keep: true,
			damage: func(t *testing.T, dir string) {
				write("status", "Name:\tx\nUid:\tbogus\n")(t, dir)
				if err := os.Chown(dir, 1234, 1234); err != nil {
					t.Skipf("chown: %v", err)
				}
			},
			check: func(t *testing.T, p engine.Process) {
				if p.UID != 1234 || p.User == "" {
					t.Errorf("uid %d user %q, want 1234 from the directory owner", p.UID, p.User)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := proctest.New(t)
			tree.AddProc(proctest.Proc{PID: 1, PPID: 0, Exe: "/sbin/init", Cmdline: []string{"init"}})
			tree.AddProc(proctest.Proc{PID: 300, UID: 1001, Exe: "/usr/bin/x", Cmdline: []string{"x", "--flag"}, Sockets: []uint64{77}, Cgroup: "0::/system.slice/x.service"})
			tree.AddProc(proctest.Proc{PID: 400, Exe: "/usr/bin/y"})
			tree.AddSocket(proctest.Socket{Proto: "tcp", Local: "0.0.0.0:80", Inode: 77})
			tt.damage(t, tree.Dir(300))

			for _, sockets := range []bool{false, true} {
				_, snap := collectTree(t, tree, CollectOptions{Read: readFacts(sockets)})
				want := []int{1, 400}
				if tt.keep {
					want = []int{1, 300, 400}
				}
				if got := pids(snap); !slices.Equal(got, want) {
					t.Fatalf("sockets=%v: pids = %v, want %v", sockets, got, want)
				}
				if tt.check != nil {
					tt.check(t, procOf(t, snap, 300))
				}
			}
		})
	}
}

func remove(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func write(name, content string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCollectCgroup(t *testing.T) {
	tests := []struct {
		name       string
		content    string
		wantCgroup string
		wantUnit   string
	}{
		{"v2 service", "0::/system.slice/nginx.service\n", "/system.slice/nginx.service", "nginx.service"},
		{"v2 session", "0::/user.slice/user-1000.slice/session-3.scope\n", "/user.slice/user-1000.slice/session-3.scope", "session-3.scope"},
		{"v2 user manager app", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope\n", "/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope", "app-foo.scope"},
		{"v2 delegated subtree", "0::/system.slice/docker.service/payload/x\n", "/system.slice/docker.service/payload/x", "docker.service"},
		{"v2 root", "0::/\n", "/", ""},
		{"v2 init scope", "0::/init.scope\n", "/init.scope", "init.scope"},
		{"v2 slice only", "0::/user.slice\n", "/user.slice", ""},
		{"v2 socket mount swap target", "0::/system.slice/dev-sda2.swap\n", "/system.slice/dev-sda2.swap", "dev-sda2.swap"},
		{"v2 path with colon", "0::/system.slice/a:b.service\n", "/system.slice/a:b.service", "a:b.service"},
		{"bare suffix is no unit", "0::/x/.service\n", "/x/.service", ""},
		{
			"v1",
			"12:pids:/system.slice/cron.service\n11:memory:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n",
			"/system.slice/cron.service", "cron.service",
		},
		{
			"v1 systemd differs from first",
			"4:memory:/docker/abc\n1:name=systemd:/system.slice/docker-abc.scope\n",
			"/docker/abc", "docker-abc.scope",
		},
		{
			"hybrid prefers v2",
			"9:name=systemd:/\n4:memory:/process_api/d452\n0::/system.slice/ssh.service\n",
			"/system.slice/ssh.service", "ssh.service",
		},
		{
			"hybrid v2 root falls back to name=systemd",
			"1:name=systemd:/system.slice/ssh.service\n0::/\n",
			"/", "ssh.service",
		},
		{"v1 without systemd", "3:cpu,cpuacct:/user/42\n", "/user/42", ""},
		{"empty", "", "", ""},
		{"garbage", "garbage\n::\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if cg, unit := proc.ParseCgroup([]byte(tt.content)); cg != tt.wantCgroup || unit != tt.wantUnit {
				t.Errorf("ParseCgroup = %q, %q; want %q, %q", cg, unit, tt.wantCgroup, tt.wantUnit)
			}
		})
	}

	// And once through a tree, where the file is read from disk.
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 9, Exe: "/usr/sbin/cron", Cgroup: "12:pids:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service"})
	_, snap := collectTree(t, tree, CollectOptions{})
	if p := procOf(t, snap, 9); p.Cgroup != "/system.slice/cron.service" || p.Unit != "cron.service" {
		t.Errorf("cgroup %q unit %q", p.Cgroup, p.Unit)
	}
}

func TestCollectSockets(t *testing.T) {
	tcp := func(local, remote string, state int) proctest.Socket {
		return proctest.Socket{Proto: "tcp", Local: local, Remote: remote, State: state}
	}
	tcp6 := func(local, remote string, state int) proctest.Socket {
		return proctest.Socket{Proto: "tcp6", Local: local, Remote: remote, State: state}
	}
	udp := func(proto, local, remote string) proctest.Socket {
		return proctest.Socket{Proto: proto, Local: local, Remote: remote}
	}
	conn := func(proto, lip string, lport int, rip string, rport int, state string) engine.Socket {
		return engine.Socket{Proto: proto, LocalIP: lip, LocalPort: lport, RemoteIP: rip, RemotePort: rport, State: state}
	}

	tests := []struct {
		name          string
		sock          proctest.Socket
		wantConnected *engine.Socket
		wantListening *engine.Socket
	}{
		{"tcp established", tcp("127.0.0.1:5000", "10.0.0.10:443", proctest.Established),
			&engine.Socket{Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: 5000, RemoteIP: "10.0.0.10", RemotePort: 443, State: "ESTABLISHED"}, nil},
		{"tcp listen any", tcp("0.0.0.0:22", "", proctest.Listen),
			nil, &engine.Socket{Proto: "tcp", LocalIP: "0.0.0.0", LocalPort: 22, RemoteIP: "0.0.0.0", RemotePort: 0, State: "LISTEN"}},
		{"tcp listen loopback", tcp("127.0.0.1:631", "", proctest.Listen),
			nil, &engine.Socket{Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: 631, RemoteIP: "0.0.0.0", State: "LISTEN"}},
		{"tcp close no peer", tcp("0.0.0.0:0", "", proctest.Close), nil, nil},
		{"tcp syn sent", tcp("192.168.1.5:40000", "93.184.216.34:80", proctest.SynSent),
			&engine.Socket{Proto: "tcp", LocalIP: "192.168.1.5", LocalPort: 40000, RemoteIP: "93.184.216.34", RemotePort: 80, State: "SYN_SENT"}, nil},
		{"tcp close wait", tcp("192.168.1.5:40001", "1.2.3.4:25", proctest.CloseWait),
			&engine.Socket{Proto: "tcp", LocalIP: "192.168.1.5", LocalPort: 40001, RemoteIP: "1.2.3.4", RemotePort: 25, State: "CLOSE_WAIT"}, nil},
		{"tcp6 listen any", tcp6("[::]:443", "", proctest.Listen),
			nil, &engine.Socket{Proto: "tcp6", LocalIP: "::", LocalPort: 443, RemoteIP: "::", State: "LISTEN"}},
		{"tcp6 global", tcp6("[2001:db8::2]:443", "[2001:db8::1]:51000", proctest.Established),
			&engine.Socket{Proto: "tcp6", LocalIP: "2001:db8::2", LocalPort: 443, RemoteIP: "2001:db8::1", RemotePort: 51000, State: "ESTABLISHED"}, nil},
		{"tcp6 loopback", tcp6("[::1]:8080", "[::1]:60000", proctest.Established),
			&engine.Socket{Proto: "tcp6", LocalIP: "::1", LocalPort: 8080, RemoteIP: "::1", RemotePort: 60000, State: "ESTABLISHED"}, nil},
		{"tcp6 v4-mapped", tcp6("[::ffff:10.0.0.1]:443", "[::ffff:203.0.113.200]:33000", proctest.Established),
			&engine.Socket{Proto: "tcp6", LocalIP: "10.0.0.1", LocalPort: 443, RemoteIP: "203.0.113.200", RemotePort: 33000, State: "ESTABLISHED"}, nil},
		{"udp bound", udp("udp", "0.0.0.0:53", ""),
			nil, &engine.Socket{Proto: "udp", LocalIP: "0.0.0.0", LocalPort: 53, RemoteIP: "0.0.0.0", State: "CLOSE"}},
		{"udp connected", udp("udp", "10.1.1.1:40000", "10.0.0.171:53"),
			&engine.Socket{Proto: "udp", LocalIP: "10.1.1.1", LocalPort: 40000, RemoteIP: "10.0.0.171", RemotePort: 53, State: "ESTABLISHED"}, nil},
		{"udp6 bound", udp("udp6", "[::]:5353", ""),
			nil, &engine.Socket{Proto: "udp6", LocalIP: "::", LocalPort: 5353, RemoteIP: "::", State: "CLOSE"}},
		{"udp6 connected v4-mapped", udp("udp6", "[::ffff:192.0.2.1]:5000", "[::ffff:192.0.2.10]:53"),
			&engine.Socket{Proto: "udp6", LocalIP: "192.0.2.1", LocalPort: 5000, RemoteIP: "192.0.2.10", RemotePort: 53, State: "ESTABLISHED"}, nil},
		{"udp6 connected global", udp("udp6", "[2001:db8::5]:5000", "[2001:db8::1]:53"),
			&engine.Socket{Proto: "udp6", LocalIP: "2001:db8::5", LocalPort: 5000, RemoteIP: "2001:db8::1", RemotePort: 53, State: "ESTABLISHED"}, nil},
	}

	// lfd's quirk Q1 dropped every address whose hex text Perl read as
	// zero: IPv4 addresses ending in .10-.15 and .160-.255 (and some
	// ending in 0) on either end. Every one of them must count.
	for _, last := range []int{0, 10, 11, 12, 13, 14, 15, 16, 100, 160, 171, 200, 255} {
		ip := "10.0.0." + strconv.Itoa(last)
		tests = append(tests,
			struct {
				name          string
				sock          proctest.Socket
				wantConnected *engine.Socket
				wantListening *engine.Socket
			}{"q1 remote " + ip, tcp("192.168.0.2:40000", ip+":443", proctest.Established),
				ptr(conn("tcp", "192.168.0.2", 40000, ip, 443, "ESTABLISHED")), nil},
			struct {
				name          string
				sock          proctest.Socket
				wantConnected *engine.Socket
				wantListening *engine.Socket
			}{"q1 local " + ip, tcp(ip+":22", "192.168.0.2:50000", proctest.Established),
				ptr(conn("tcp", ip, 22, "192.168.0.2", 50000, "ESTABLISHED")), nil},
		)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tree := proctest.New(t)
			tt.sock.Inode = 9001
			// Noise around the socket: another process's socket, a
			// non-socket fd, a unix socket (in no table) and a dup of
			// the same socket, which must be listed once.
			tree.AddSocket(proctest.Socket{Proto: "tcp", Local: "127.0.0.1:1", Remote: "127.0.0.1:2", Inode: 9002})
			tree.AddSocket(tt.sock)
			tree.AddProc(proctest.Proc{PID: 100, Exe: "/usr/bin/srv", Files: []string{"/dev/null", "pipe:[5]", "anon_inode:[eventfd]"}, Sockets: []uint64{9001, 12345, 9001}})
			tree.AddProc(proctest.Proc{PID: 101, Exe: "/usr/bin/other", Sockets: []uint64{9002}})

			_, snap := collectTree(t, tree, CollectOptions{Read: engine.FactRead})
			p := procOf(t, snap, 100)
			var wantConns, wantListen []engine.Socket
			if tt.wantConnected != nil {
				wantConns = []engine.Socket{*tt.wantConnected}
			}
			if tt.wantListening != nil {
				wantListen = []engine.Socket{*tt.wantListening}
			}
			if !slices.Equal(p.Connections, wantConns) {
				t.Errorf("Connections = %+v, want %+v", p.Connections, wantConns)
			}
			if !slices.Equal(p.Listening, wantListen) {
				t.Errorf("Listening = %+v, want %+v", p.Listening, wantListen)
			}
			if other := procOf(t, snap, 101); len(other.Connections) != 1 || len(other.Listening) != 0 {
				t.Errorf("pid 101: %+v %+v", other.Connections, other.Listening)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestCollectSocketsOrder checks that a process's sockets come in
// descriptor order, whatever the order of the directory.
func TestCollectSocketsOrder(t *testing.T) {
	tree := proctest.New(t)
	var inodes []uint64
	for i := range 12 {
		inode := uint64(500 + i)
		inodes = append(inodes, inode)
		tree.AddSocket(proctest.Socket{Proto: "udp", Local: "0.0.0.0:" + strconv.Itoa(1000+i), Inode: inode})
	}
	tree.AddProc(proctest.Proc{PID: 8, Exe: "/bin/x", Sockets: inodes})
	_, snap := collectTree(t, tree, CollectOptions{Read: engine.FactRead})
	p := procOf(t, snap, 8)
	if len(p.Listening) != 12 {
		t.Fatalf("Listening = %+v", p.Listening)
	}
	for i, s := range p.Listening {
		if s.LocalPort != 1000+i {
			t.Fatalf("socket %d has port %d; order %+v", i, s.LocalPort, p.Listening)
		}
	}
}

// TestCollectReadsSocketsOnFirstUse proves with inotify that a collection
// opens neither fd directories nor /proc/net until a process's sockets are
// read, and reading its other facts opens none either.
func TestCollectReadsSocketsOnFirstUse(t *testing.T) {
	tree := proctest.New(t)
	tree.AddSocket(proctest.Socket{Proto: "tcp", Local: "0.0.0.0:80", Inode: 42})
	tree.AddProc(proctest.Proc{PID: 100, Exe: "/usr/sbin/httpd", Sockets: []uint64{42}})

	ino, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	defer unix.Close(ino)
	for _, dir := range []string{filepath.Join(tree.Dir(100), "fd"), filepath.Join(tree.Root(), "net")} {
		if _, err := unix.InotifyAddWatch(ino, dir, unix.IN_OPEN); err != nil {
			t.Skipf("inotify watch: %v", err)
		}
	}
	opened := func() bool {
		var buf [4096]byte
		n, err := unix.Read(ino, buf[:])
		if errors.Is(err, unix.EAGAIN) {
			return false
		}
		if err != nil {
			t.Fatalf("read inotify: %v", err)
		}
		return n > 0
	}

	_, snap := collectTree(t, tree, CollectOptions{})
	p := &snap.Procs[0]
	p.Need(engine.FactRead &^ engine.FactSockets)
	if opened() {
		t.Error("a collection opened an fd directory or a /proc/net table before sockets were read")
	}
	if p.Exe != "/usr/sbin/httpd" || p.Listening != nil || p.Connections != nil {
		t.Errorf("before the sockets are read: exe %q, sockets %+v %+v", p.Exe, p.Listening, p.Connections)
	}
	p.Need(engine.FactSockets)
	if !opened() {
		t.Error("reading the sockets opened nothing: the watch does not work")
	}
	if len(p.Listening) != 1 {
		t.Errorf("Listening = %+v", p.Listening)
	}
}

// TestCollectOtherNetNamespace checks that a socket missing from the
// collector's own tables is looked up in its process's namespace.
func TestCollectOtherNetNamespace(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 700, Exe: "/usr/bin/containerd-app", Sockets: []uint64{8080}})
	tree.AddProc(proctest.Proc{PID: 701, Exe: "/usr/bin/containerd-app", Sockets: []uint64{8081}})
	dir := tree.Dir(700)
	for _, name := range []string{"net", "ns"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("net:[4026532999]", filepath.Join(dir, "ns/net")); err != nil {
		t.Fatal(err)
	}
	line, err := proctest.FormatNetLine(0, proctest.Socket{Proto: "tcp", Local: "172.17.0.2:8080", Inode: 8080})
	if err != nil {
		t.Fatal(err)
	}
	line2, err := proctest.FormatNetLine(1, proctest.Socket{Proto: "tcp", Local: "172.17.0.2:8081", Inode: 8081})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net/tcp"), []byte("header\n"+line+line2), 0o644); err != nil {
		t.Fatal(err)
	}

	_, snap := collectTree(t, tree, CollectOptions{Read: engine.FactRead})
	want := []engine.Socket{{Proto: "tcp", LocalIP: "172.17.0.2", LocalPort: 8080, RemoteIP: "0.0.0.0", State: "LISTEN"}}
	if p := procOf(t, snap, 700); !slices.Equal(p.Listening, want) {
		t.Errorf("Listening = %+v, want %+v", p.Listening, want)
	}
	// PID 701 shares the namespace but has no ns link in the tree; the
	// namespace's tables, once read, still serve it since inodes are
	// unique across namespaces.
	if p := procOf(t, snap, 701); len(p.Listening) != 1 || p.Listening[0].LocalPort != 8081 {
		t.Errorf("pid 701 Listening = %+v", p.Listening)
	}
}

func TestCollectPIDsFilterAndOrder(t *testing.T) {
	tree := proctest.New(t)
	for _, pid := range []int{300, 5, 1000, 42, 7} {
		tree.AddProc(proctest.Proc{PID: pid, Exe: "/bin/p" + strconv.Itoa(pid)})
	}
	tree.AddProc(proctest.Proc{PID: 9, Comm: "kworker", KernelThread: true})
	// Not a process directory: ignored by the listing.
	if err := os.Mkdir(filepath.Join(tree.Root(), "self"), 0o755); err != nil {
		t.Fatal(err)
	}

	_, snap := collectTree(t, tree, CollectOptions{})
	if got, want := pids(snap), []int{5, 7, 42, 300, 1000}; !slices.Equal(got, want) {
		t.Errorf("all: pids = %v, want %v", got, want)
	}

	_, snap = collectTree(t, tree, CollectOptions{PIDs: []int{1000, 42, 999, 42, 9, -1, 0}})
	if got, want := pids(snap), []int{42, 1000}; !slices.Equal(got, want) {
		t.Errorf("filtered: pids = %v, want %v", got, want)
	}
	if snap.Host.Procs != 2 || snap.Host.Name != "testhost" {
		t.Errorf("filtered host = %+v", snap.Host)
	}
}

func TestCollectErrors(t *testing.T) {
	if _, err := NewCollector(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("NewCollector on a missing directory: no error")
	}

	tree := proctest.New(t)
	c, err := NewCollector(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(tree.Root()); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []CollectOptions{{}, {PIDs: []int{1}}} {
		if _, err := c.Collect(opts); err == nil {
			t.Errorf("Collect(%+v) on a removed tree: no error", opts)
		}
	}

	// A tree without host files still yields its processes, with the
	// boot time estimated from uptime.
	tree = proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 3, Exe: "/bin/x", Age: time.Hour})
	for _, name := range []string{"stat", "loadavg", "sys"} {
		if err := os.RemoveAll(filepath.Join(tree.Root(), name)); err != nil {
			t.Fatal(err)
		}
	}
	_, snap := collectTree(t, tree, CollectOptions{Read: engine.FactRead})
	p := procOf(t, snap, 3)
	if p.Age != time.Hour || snap.Host.CPUs != 0 || snap.Host.Name != "" {
		t.Errorf("age %v host %+v", p.Age, snap.Host)
	}
	if d := snap.Time.Sub(p.Start) - time.Hour; d < -2*time.Second || d > 2*time.Second {
		t.Errorf("start %v is not an hour before %v", p.Start, snap.Time)
	}
}

func TestCollectTicksToDuration(t *testing.T) {
	c := &Collector{ticks: 100}
	if got := c.ticksToDuration(12345); got != 123450*time.Millisecond {
		t.Errorf("ticksToDuration(12345) = %v", got)
	}
	if got := c.ticksToDuration(^uint64(0)); got <= 0 {
		t.Errorf("ticksToDuration(max) = %v, want saturation", got)
	}
}

// TestCollectRealDeletedExe runs a copy of sleep as nobody in its own
// session, deletes the copy and reads the live /proc.
func TestCollectRealDeletedExe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as nobody")
	}
	uid, gid := proctest.NobodyUID, proctest.NobodyUID
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep: %v", err)
	}

	// t.TempDir() lies under a directory nobody cannot enter.
	dir, err := os.MkdirTemp("", "ptrule-collect-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "sleep")
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(exe, "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
		Setsid:     true,
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start %s as nobody (noexec temp dir?): %v", exe, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		// Only the process this test started is signalled and reaped.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	// Start returns once execve has closed the close-on-exec pipe, which
	// is before the kernel sets up the new argv: wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child's cmdline stayed empty")
		}
	}

	c, err := NewCollector("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []CollectOptions{{PIDs: []int{pid}}, {}, {Read: engine.FactRead}} {
		snap, err := c.Collect(opts)
		if err != nil {
			t.Fatal(err)
		}
		p := procOf(t, snap, pid)
		if p.Exe != exe || !p.ExeDeleted {
			t.Errorf("%+v: exe %q deleted %v, want %q deleted", opts, p.Exe, p.ExeDeleted, exe)
		}
		if p.UID != uid || p.User != "nobody" {
			t.Errorf("%+v: uid %d user %q, want %d nobody", opts, p.UID, p.User, uid)
		}
		if p.PPID != os.Getpid() || p.SID != pid || p.PGID != pid {
			t.Errorf("%+v: ppid %d sid %d pgid %d", opts, p.PPID, p.SID, p.PGID)
		}
		if p.Comm != "sleep" || !slices.Equal(p.Cmdline, []string{exe, "300"}) || p.Cmd != exe+" 300" {
			t.Errorf("%+v: comm %q cmdline %q cmd %q", opts, p.Comm, p.Cmdline, p.Cmd)
		}
		if p.State != "S" && p.State != "R" {
			t.Errorf("%+v: state %q", opts, p.State)
		}
		if d := time.Since(p.Start); d < -2*time.Second || d > time.Minute {
			t.Errorf("%+v: start %v is not now", opts, p.Start)
		}
		if p.Age < 0 || p.Age > time.Minute || p.StartTicks == 0 {
			t.Errorf("%+v: age %v start ticks %d", opts, p.Age, p.StartTicks)
		}
		// RSS is not checked: the kernel's per-CPU counters may still
		// read 0 for a process this young.
		if p.VMSize <= 0 || p.RSS < 0 || p.Threads != 1 {
			t.Errorf("%+v: vmsize %d rss %d threads %d", opts, p.VMSize, p.RSS, p.Threads)
		}
		if len(p.Connections)+len(p.Listening) != 0 {
			t.Errorf("%+v: sleep has sockets: %+v %+v", opts, p.Connections, p.Listening)
		}
		if opts.PIDs == nil {
			if snap.Host.Procs != len(snap.Procs) || snap.Host.CPUs < 1 || snap.Host.Uptime <= 0 || snap.Host.Boot.IsZero() {
				t.Errorf("host %+v", snap.Host)
			}
			for _, q := range snap.Procs {
				if q.PID == 2 || q.PPID == 2 {
					t.Errorf("kernel thread %d (%s) collected", q.PID, q.Comm)
				}
			}
		}
	}
}

// TestCollectRealUnreadableExe uses a process of the host whose exe link
// root cannot read (EACCES), when the host has one: in some sandboxes PID
// 1 is such a process. Fake trees can only simulate the failure.
func TestCollectRealUnreadableExe(t *testing.T) {
	const pid = 1
	if _, err := os.Readlink("/proc/1/exe"); !errors.Is(err, os.ErrPermission) {
		t.Skipf("/proc/1/exe is readable here (%v); the fake-tree test covers the case", err)
	}
	c, err := NewCollector("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []CollectOptions{{}, {Read: engine.FactRead, PIDs: []int{pid}}} {
		snap, err := c.Collect(opts)
		if err != nil {
			t.Fatal(err)
		}
		if p := procOf(t, snap, pid); p.Exe != "" || p.ExeDeleted || p.Comm == "" {
			t.Errorf("%+v: exe %q deleted %v comm %q", opts, p.Exe, p.ExeDeleted, p.Comm)
		}
	}
}

// liveSockets opens sockets in the test process, closed when the test
// ends, and returns how the collector must show them.
func liveSockets(t *testing.T) (wantListen, wantConns []engine.Socket, udpBoundInode uint64) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })

	bound, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bound.Close() })
	dialed, err := net.Dial("udp4", bound.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })

	port := func(a net.Addr) int {
		switch a := a.(type) {
		case *net.TCPAddr:
			return a.Port
		case *net.UDPAddr:
			return a.Port
		}
		t.Fatalf("address %v", a)
		return 0
	}
	wantListen = []engine.Socket{
		{Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: port(ln.Addr()), RemoteIP: "0.0.0.0", State: "LISTEN"},
		{Proto: "udp", LocalIP: "127.0.0.1", LocalPort: port(bound.LocalAddr()), RemoteIP: "0.0.0.0", State: "CLOSE"},
	}
	wantConns = []engine.Socket{
		{Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: port(client.LocalAddr()), RemoteIP: "127.0.0.1", RemotePort: port(ln.Addr()), State: "ESTABLISHED"},
		{Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: port(ln.Addr()), RemoteIP: "127.0.0.1", RemotePort: port(client.LocalAddr()), State: "ESTABLISHED"},
		{Proto: "udp", LocalIP: "127.0.0.1", LocalPort: port(dialed.LocalAddr()), RemoteIP: "127.0.0.1", RemotePort: port(bound.LocalAddr()), State: "ESTABLISHED"},
	}

	// A dual-stack listener reached over IPv4 puts v4-mapped addresses in
	// tcp6; they must read as dotted quads.
	if ln6, err := net.Listen("tcp", "[::]:0"); err == nil {
		t.Cleanup(func() { ln6.Close() })
		c6, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port(ln6.Addr())))
		if err == nil {
			t.Cleanup(func() { c6.Close() })
			if s6, err := ln6.Accept(); err == nil {
				t.Cleanup(func() { s6.Close() })
				wantListen = append(wantListen, engine.Socket{Proto: "tcp6", LocalIP: "::", LocalPort: port(ln6.Addr()), RemoteIP: "::", State: "LISTEN"})
				wantConns = append(wantConns,
					engine.Socket{Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: port(c6.LocalAddr()), RemoteIP: "127.0.0.1", RemotePort: port(ln6.Addr()), State: "ESTABLISHED"},
					engine.Socket{Proto: "tcp6", LocalIP: "127.0.0.1", LocalPort: port(ln6.Addr()), RemoteIP: "127.0.0.1", RemotePort: port(c6.LocalAddr()), State: "ESTABLISHED"},
				)
			}
		}
	}

	raw, err := bound.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := raw.Control(func(fd uintptr) { err = unix.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	return wantListen, wantConns, st.Ino
}

// failingSource is a sock_diag dump that could not read the tables in
// failed.
type failingSource struct {
	socketSource
	failed []string
}

func (s failingSource) Table(proto string) ([]proc.NetEntry, error) {
	if slices.Contains(s.failed, proto) {
		return nil, errors.New("no sock_diag for " + proto)
	}
	return s.socketSource.Table(proto)
}

// markedSource is a sock_diag dump in which the socket of one inode shows
// port 1, which tells a socket the collector took from the dump from one
// it read in a table.
type markedSource struct {
	socketSource
	inode uint64
}

func (s markedSource) Table(proto string) ([]proc.NetEntry, error) {
	entries, err := s.socketSource.Table(proto)
	for i, e := range entries {
		if e.Inode == s.inode {
			entries[i].Local = netip.AddrPortFrom(e.Local.Addr(), 1)
		}
	}
	return entries, err
}

// TestCollectRealSockets opens sockets in the test process and finds them
// in the live /proc, which checks the byte order of real tables: taken
// from a sock_diag dump, from the files when the dump fails (silently,
// whole or for some tables), and never from a dump in a fake tree.
func TestCollectRealSockets(t *testing.T) {
	wantListen, wantConns, udpBound := liveSockets(t)
	defer func(orig func() socketSource) { dumpOwnSockets = orig }(dumpOwnSockets)

	realDump := dumpOwnSockets
	for _, tt := range []struct {
		name string
		// source wraps the real dump.
		source func(real socketSource) socketSource
		// marked: the UDP socket shows as the dump gave it.
		marked bool
	}{
		{"dump", func(d socketSource) socketSource { return markedSource{d, udpBound} }, true},
		{"dump fails", func(d socketSource) socketSource { return failingSource{d, proc.NetTables} }, false},
		{"dump fails for udp", func(d socketSource) socketSource {
			return failingSource{markedSource{d, udpBound}, []string{"udp"}}
		}, false},
		{"dump fails for tcp", func(d socketSource) socketSource {
			return failingSource{markedSource{d, udpBound}, []string{"tcp", "tcp6"}}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			dumpOwnSockets = func() socketSource {
				calls++
				return tt.source(realDump())
			}
			defer func() { dumpOwnSockets = realDump }()

			c, err := NewCollector("/proc")
			if err != nil {
				t.Fatal(err)
			}
			snap, err := c.Collect(CollectOptions{Read: engine.FactRead, PIDs: []int{os.Getpid()}})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Errorf("the sock_diag dump was asked %d times, want once", calls)
			}
			p := procOf(t, snap, os.Getpid())
			listen := slices.Clone(wantListen)
			if tt.marked {
				// wantListen[1] is the bound UDP socket.
				listen[1].LocalPort = 1
			}
			for _, w := range listen {
				if !slices.Contains(p.Listening, w) {
					t.Errorf("listening socket %+v missing from %+v", w, p.Listening)
				}
			}
			for _, w := range wantConns {
				if !slices.Contains(p.Connections, w) {
					t.Errorf("connection %+v missing from %+v", w, p.Connections)
				}
			}
		})
	}

	// A fake tree is read from its files only.
	dumpOwnSockets = func() socketSource {
		t.Error("a fake tree asked for a sock_diag dump")
		return failingSource{nil, proc.NetTables}
	}
	tree := proctest.New(t)
	tree.AddSocket(proctest.Socket{Proto: "tcp", Local: "0.0.0.0:80", Inode: 42})
	tree.AddProc(proctest.Proc{PID: 100, Exe: "/usr/sbin/httpd", Sockets: []uint64{42}})
	if _, snap := collectTree(t, tree, CollectOptions{Read: engine.FactRead}); len(procOf(t, snap, 100).Listening) != 1 {
		t.Errorf("fake tree: Listening = %+v", procOf(t, snap, 100).Listening)
	}
}

// BenchmarkCollectLive collects this machine's own /proc.
func BenchmarkCollectLive(b *testing.B) {
	c, err := NewCollector("/proc")
	if err != nil {
		b.Skip(err)
	}
	for _, sockets := range []bool{false, true} {
		b.Run("sockets="+strconv.FormatBool(sockets), func(b *testing.B) {
			procs := 0
			for b.Loop() {
				snap, err := c.Collect(CollectOptions{Read: readFacts(sockets)})
				if err != nil {
					b.Fatal(err)
				}
				procs = len(snap.Procs)
			}
			b.ReportMetric(float64(procs), "procs")
		})
	}
}

// A wall-clock step (chrony makestep, a resumed VM) moves btime but not the
// kernel's start ticks: the same processes keep their suppression keys, and
// only their wall-clock start moves. BootClock follows btime.
func TestCollectKeysSurviveClockStep(t *testing.T) {
	tree := proctest.New(t)
	tree.AddProc(proctest.Proc{PID: 100, SID: 100, UID: nobody, Exe: "/usr/bin/a", StartTicks: 5000})
	tree.AddProc(proctest.Proc{PID: 101, SID: 100, UID: nobody, Exe: "/usr/bin/b", StartTicks: 7000})
	keys := func() ([]string, time.Time) {
		t.Helper()
		c, snap := collectTree(t, tree, CollectOptions{})
		var out []string
		for i := range snap.Procs {
			out = append(out, snap.Procs[i].Key())
		}
		for _, s := range engine.NewView(snap, nil).Sessions() {
			out = append(out, "session "+s.Key())
		}
		clk, err := c.BootClock()
		if err != nil || !clk.Boot.Equal(snap.Host.Boot) || clk.TicksPerSecond != proctest.ClockTicks {
			t.Errorf("BootClock = %+v, %v; want boot %v", clk, err, snap.Host.Boot)
		}
		return out, procOf(t, snap, 100).Start
	}
	before, startBefore := keys()
	want := []string{"100@5000", "101@7000", "session 100@5000"}
	if !slices.Equal(before, want) {
		t.Fatalf("keys %q, want %q", before, want)
	}
	h := tree.Host()
	h.Boot = h.Boot.Add(-90 * time.Second) // the clock was stepped 90s back
	tree.SetHost(h)
	after, startAfter := keys()
	if !slices.Equal(after, before) {
		t.Errorf("after a clock step keys %q, want %q", after, before)
	}
	if startAfter.Sub(startBefore) != -90*time.Second {
		t.Errorf("start moved by %v, want the btime change (the test did not step the clock)", startAfter.Sub(startBefore))
	}
}

// TestCollectExeIdentity checks that deletion and the exe path's trust
// come from the file the process runs, not from the text of its exe link.
func TestCollectExeIdentity(t *testing.T) {
	if proc.FakeExeFile != proctest.ExeFile || proc.FakeView != proctest.View {
		t.Fatalf("the fake-tree seam differs: builtin %q %q, proctest %q %q", proc.FakeExeFile, proc.FakeView, proctest.ExeFile, proctest.View)
	}
	tests := []struct {
		name         string
		proc         proctest.Proc
		breakTree    func(t *testing.T, tree *proctest.Tree)
		wantExe      string
		wantDeleted  bool
		wantMismatch bool
	}{
		{name: "the file at its path", proc: proctest.Proc{Exe: "/usr/bin/dbus-daemon"}, wantExe: "/usr/bin/dbus-daemon"},
		{name: "a file named x (deleted) is not deleted", proc: proctest.Proc{Exe: "/tmp/x (deleted)"}, wantExe: "/tmp/x (deleted)"},
		{name: "unlinked", proc: proctest.Proc{Exe: "/usr/bin/x", ExeDeleted: true}, wantExe: "/usr/bin/x", wantDeleted: true},
		{name: "memfd", proc: proctest.Proc{Exe: "/memfd:payload", ExeDeleted: true}, wantExe: "/memfd:payload", wantDeleted: true},
		// A memfd inode may show a link count of 1: the name decides.
		{name: "memfd with a link", proc: proctest.Proc{Exe: "/memfd:payload (deleted)"}, wantExe: "/memfd:payload", wantDeleted: true},
		{name: "another file under the path", proc: proctest.Proc{Exe: "/usr/bin/dbus-daemon", ExeMismatch: true}, wantExe: "/usr/bin/dbus-daemon", wantMismatch: true},
		// Started as /tmp/a, which was unlinked while another hard link
		// keeps the file: the kernel marks the name, the link count is 1.
		{name: "unlinked name, file kept by another link", proc: proctest.Proc{Exe: "/tmp/a (deleted)", ExeMismatch: true}, wantExe: "/tmp/a", wantDeleted: true},
		{
			name: "path missing from the view", proc: proctest.Proc{Exe: "/usr/bin/dbus-daemon"},
			breakTree: func(t *testing.T, tree *proctest.Tree) {
				if err := os.Remove(filepath.Join(tree.Root(), proctest.View, "usr/bin/dbus-daemon")); err != nil {
					t.Fatal(err)
				}
			},
			wantExe: "/usr/bin/dbus-daemon", wantMismatch: true,
		},
		{
			name: "file behind the link unreadable", proc: proctest.Proc{Exe: "/usr/bin/x (deleted)"},
			breakTree: func(t *testing.T, tree *proctest.Tree) {
				if err := os.Remove(filepath.Join(tree.Dir(300), proctest.ExeFile)); err != nil {
					t.Fatal(err)
				}
			},
			wantExe: "/usr/bin/x (deleted)", wantMismatch: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := proctest.New(t)
			tt.proc.PID = 300
			tree.AddProc(tt.proc)
			if tt.breakTree != nil {
				tt.breakTree(t, tree)
			}
			_, snap := collectTree(t, tree, CollectOptions{})
			p := procOf(t, snap, 300)
			if p.Exe != tt.wantExe || p.ExeDeleted != tt.wantDeleted || p.ExeMismatch != tt.wantMismatch {
				t.Errorf("exe %q deleted %v mismatch %v, want %q %v %v", p.Exe, p.ExeDeleted, p.ExeMismatch, tt.wantExe, tt.wantDeleted, tt.wantMismatch)
			}
		})
	}
}

// TestCollectExeSwappedFile checks that processes sharing an exe share its
// identity, and that when the file at the path is replaced, the processes
// still running the old one are no longer trusted by their path.
func TestCollectExeSwappedFile(t *testing.T) {
	tree := proctest.New(t)
	for pid := 300; pid < 305; pid++ {
		tree.AddProc(proctest.Proc{PID: pid, Exe: "/usr/sbin/sshd"})
	}
	c, snap := collectTree(t, tree, CollectOptions{})
	snap.LoadAll(engine.FactExe)
	for _, p := range snap.Procs {
		if p.ExeMismatch {
			t.Errorf("pid %d: mismatch for the file at its own path", p.PID)
		}
	}
	// Replace the file at the path: every process now runs the old one.
	path := filepath.Join(tree.Root(), proctest.View, "usr/sbin/sshd")
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	snap, err := c.Collect(CollectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	snap.LoadAll(engine.FactExe)
	for _, p := range snap.Procs {
		if !p.ExeMismatch || p.ExeDeleted {
			t.Errorf("pid %d after the swap: mismatch %v deleted %v, want a mismatch", p.PID, p.ExeMismatch, p.ExeDeleted)
		}
	}
}

// startReal starts cmd in its own session, reaps it when the test ends and
// waits until its command line reads want, which is once execve is done.
func startReal(t *testing.T, cmd *exec.Cmd, want string) int {
	t.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		// Only the process this test started is signalled and reaped.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); string(b) == want {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never ran %q", pid, want)
		}
	}
}

// copySleep copies the sleep program to path.
func copySleep(t *testing.T, path string) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep: %v", err)
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// collectPID collects one live process.
func collectPID(t *testing.T, pid int) engine.Process {
	t.Helper()
	c, err := NewCollector("/proc")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Collect(CollectOptions{PIDs: []int{pid}})
	if err != nil {
		t.Fatal(err)
	}
	return procOf(t, snap, pid)
}

// execTempDir returns a directory where the test can run programs.
func execTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ptrule-exe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestCollectRealExeNamedDeleted runs a program whose file is named
// "sleep (deleted)": the kernel says it is not deleted, and exe keeps the
// real name.
func TestCollectRealExeNamedDeleted(t *testing.T) {
	exe := filepath.Join(execTempDir(t), "sleep (deleted)")
	copySleep(t, exe)
	pid := startReal(t, exec.Command(exe, "300"), exe+"\x00300\x00")
	p := collectPID(t, pid)
	if p.Exe != exe || p.ExeDeleted || p.ExeMismatch {
		t.Errorf("exe %q deleted %v mismatch %v, want %q, not deleted, no mismatch", p.Exe, p.ExeDeleted, p.ExeMismatch, exe)
	}
}

// TestCollectRealUnlinkedHardLinked runs a copy of sleep, links the copy
// under a second name and removes the first: the file lives on, but the
// name the process shows was unlinked, so it is deleted.
func TestCollectRealUnlinkedHardLinked(t *testing.T) {
	dir := execTempDir(t)
	exe := filepath.Join(dir, "sleep")
	copySleep(t, exe)
	pid := startReal(t, exec.Command(exe, "300"), exe+"\x00300\x00")
	if err := os.Link(exe, filepath.Join(dir, "kept")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	p := collectPID(t, pid)
	if p.Exe != exe || !p.ExeDeleted || p.ExeMismatch {
		t.Errorf("exe %q deleted %v mismatch %v, want %q deleted, no mismatch", p.Exe, p.ExeDeleted, p.ExeMismatch, exe)
	}
}

// TestCollectRealMemfdExe runs a copy of sleep from memory (memfd_create,
// then execve of its /proc/self/fd link): it is deleted.
func TestCollectRealMemfdExe(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep: %v", err)
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.MemfdCreate("ptrule-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skipf("memfd_create: %v", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd")
	defer mem.Close()
	if _, err := mem.Write(data); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/fd/3", "300")
	cmd.ExtraFiles = []*os.File{mem}
	pid := startReal(t, cmd, "/proc/self/fd/3\x00300\x00")
	p := collectPID(t, pid)
	if p.Exe != "/memfd:ptrule-test" || !p.ExeDeleted || p.ExeMismatch {
		t.Errorf("exe %q deleted %v mismatch %v, want /memfd:ptrule-test deleted, no mismatch", p.Exe, p.ExeDeleted, p.ExeMismatch)
	}
}

// TestCollectRealSpoofedExe runs a program in a mount namespace of its own
// where another file is bind-mounted over the path of a listed program:
// the process shows the listed path, but is not running the file at that
// path in ptrule's view, so an exe: entry for the path does not hide it.
// The same path run plainly is hidden.
func TestCollectRealSpoofedExe(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("no unshare: %v", err)
	}
	dir := execTempDir(t)
	listed, impostor := filepath.Join(dir, "dbus-daemon"), filepath.Join(dir, "payload")
	copySleep(t, listed)
	copySleep(t, impostor)
	ign, probs := engine.ParseIgnore("site.pignore", []byte("exe:"+listed+"\npexe:"+regexp.QuoteMeta(dir)+"/.*\n"), 1, nil)
	if len(probs) > 0 {
		t.Fatal(probs)
	}

	plain := startReal(t, exec.Command(listed, "301"), listed+"\x00301\x00")
	if p := collectPID(t, plain); p.Exe != listed || p.ExeMismatch || p.ExeDeleted || !ign.Ignored(&p) {
		t.Errorf("plain run: exe %q mismatch %v deleted %v ignored %v, want %q hidden", p.Exe, p.ExeMismatch, p.ExeDeleted, ign.Ignored(&p), listed)
	}

	spoof := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c", `mount --bind "$1" "$2" && exec "$2" 302`, "sh", impostor, listed)
	var out strings.Builder
	spoof.Stdout, spoof.Stderr = &out, &out
	pid := startReal(t, spoof, listed+"\x00302\x00")
	p := collectPID(t, pid)
	if p.Exe != listed || !p.ExeMismatch || p.ExeDeleted {
		t.Errorf("spoofed run: exe %q mismatch %v deleted %v, want %q with a mismatch (%s)", p.Exe, p.ExeMismatch, p.ExeDeleted, listed, out.String())
	}
	if e, ok := ign.Match(&p); ok || ign.Ignored(&p) {
		t.Errorf("spoofed run hidden by %v", e)
	}
}
