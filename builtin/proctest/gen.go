package proctest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Gen describes a generated tree: Procs process directories in the mix of
// a busy shared web server, the same for the same Seed. Benchmarks use it
// to see how a collection's cost grows with the number of processes.
type Gen struct {
	// Procs is the number of process directories, kernel threads
	// included; at least 10.
	Procs int
	// Seed makes the tree; the same Gen always writes the same tree.
	Seed uint64
}

// GenStats counts what a generated tree holds, for tests that check a
// collection of it against what was written.
type GenStats struct {
	// Procs is every process directory; KernelThreads of them carry
	// PF_KTHREAD and Zombies are in state Z without a program.
	Procs, KernelThreads, Zombies int
	// Deleted processes run an unlinked executable.
	Deleted int
	// Connected processes hold at least one socket with a peer,
	// Listening ones at least one listening TCP or bound UDP socket.
	Connected, Listening int
	// Sockets is the number of lines in the net tables.
	Sockets int
	// Users is the number of distinct effective uids of user-space
	// processes, named in the tree's etc/passwd.
	Users int
	// Sessions is the number of distinct session ids of user-space
	// processes, and LargestSession the size of the largest one.
	Sessions, LargestSession int
	// LongCmdlines counts command lines longer than 1,000 bytes.
	LongCmdlines int
}

// genUser is an account of a generated tree.
type genUser struct {
	uid  int
	name string
}

// Accounts of a generated tree: root, system daemons' users, a web
// server's user, nobody and genLogins login users.
var genSystemUsers = []genUser{{0, "root"}, {1, "daemon"}, {33, "www-data"}, {101, "systemd-resolve"}, {104, "mysql"}, {NobodyUID, "nobody"}}

const genLogins = 40

// genDaemons are root (or system user) daemons: exe, unit, uid, whether it
// listens, and its arguments.
var genDaemons = []struct {
	exe, unit string
	uid       int
	listen    string
	args      []string
}{
	{"/usr/lib/systemd/systemd-journald", "systemd-journald.service", 0, "", nil},
	{"/usr/lib/systemd/systemd-logind", "systemd-logind.service", 0, "", nil},
	{"/usr/lib/systemd/systemd-udevd", "systemd-udevd.service", 0, "", nil},
	{"/usr/lib/systemd/systemd-resolved", "systemd-resolved.service", 101, "udp 127.0.0.53:53", nil},
	{"/usr/sbin/sshd", "ssh.service", 0, "tcp 0.0.0.0:22", []string{"-D"}},
	{"/usr/sbin/cron", "cron.service", 0, "", []string{"-f"}},
	{"/usr/sbin/rsyslogd", "rsyslog.service", 0, "udp 0.0.0.0:514", []string{"-n", "-iNONE"}},
	{"/usr/sbin/nginx", "nginx.service", 0, "tcp 0.0.0.0:443", []string{"-g", "daemon on; master_process on;"}},
	{"/usr/sbin/mysqld", "mysql.service", 104, "tcp 127.0.0.1:3306", nil},
	{"/usr/sbin/php-fpm8.2", "php8.2-fpm.service", 0, "", []string{"--nodaemonize", "--fpm-config", "/etc/php/8.2/fpm/php-fpm.conf"}},
	{"/usr/sbin/exim4", "exim4.service", 0, "tcp6 [::]:25", []string{"-bd", "-q30m"}},
	{"/usr/bin/dbus-daemon", "dbus.service", 0, "", []string{"--system", "--address=systemd:", "--nofork", "--nopidfile", "--systemd-activation", "--syslog-only"}},
}

// genPrograms are what login users run: exe and arguments.
var genPrograms = []struct {
	exe  string
	args []string
}{
	{"/usr/bin/bash", nil},
	{"/usr/bin/python3", []string{"/home/app/worker.py", "--queue", "default"}},
	{"/usr/bin/php8.2", []string{"artisan", "queue:work", "--tries=3"}},
	{"/usr/bin/node", []string{"/srv/app/server.js"}},
	{"/usr/bin/perl", []string{"/home/app/cgi-bin/mail.pl"}},
	{"/usr/bin/vim", []string{"notes.txt"}},
	{"/usr/bin/tmux", nil},
	{"/usr/bin/sleep", []string{"3600"}},
	{"/usr/lib/jvm/java-17/bin/java", nil}, // with a long classpath
	{"/usr/bin/rsync", []string{"-a", "/srv/data/", "backup:/data/"}},
}

// GenSpec returns the processes and sockets of the generated tree g, and
// what they hold. It writes nothing; Generate writes them.
func GenSpec(g Gen) (Spec, GenStats) {
	n := max(g.Procs, 10)
	rng := rand.New(rand.NewPCG(g.Seed, g.Seed^0x9e3779b97f4a7c15))
	var spec Spec
	var st GenStats
	host := Host{Name: "web1", CPUs: 2, Boot: DefaultBoot, Uptime: DefaultUptime}
	spec.Host = &host
	spec.Load = &Load{Avg1: 0.42, Avg5: 0.35, Avg15: 0.3, Running: 2, Total: n}

	pid := 0
	nextPID := func() int { pid += 1 + rng.IntN(3); return pid }
	inode := uint64(100000)
	pipe := uint64(5000000)
	add := func(p Proc) { spec.Procs = append(spec.Procs, p) }
	age := func(maxAge time.Duration) time.Duration {
		return time.Duration(rng.Int64N(int64(maxAge)-int64(time.Second))) + time.Second
	}
	// files gives a process some ordinary descriptors, as a walk of its
	// fd directory meets them.
	files := func(k int) []string {
		out := []string{"/dev/null", "/dev/null", "/dev/null"}
		for i := range k {
			switch i % 4 {
			case 0:
				pipe++
				out = append(out, fmt.Sprintf("pipe:[%d]", pipe))
			case 1:
				out = append(out, fmt.Sprintf("/var/log/app/%d.log", i))
			case 2:
				out = append(out, "anon_inode:[eventpoll]")
			default:
				out = append(out, "/usr/lib/x86_64-linux-gnu/libc.so.6")
			}
		}
		return out
	}
	listen := func(p *Proc, uid int, what string) {
		proto, addr, _ := strings.Cut(what, " ")
		inode++
		spec.Sockets = append(spec.Sockets, Socket{Proto: proto, Local: addr, Inode: inode, UID: uid})
		p.Sockets = append(p.Sockets, inode)
	}
	connect := func(p *Proc, uid int) {
		inode++
		s := Socket{Proto: "tcp", Local: fmt.Sprintf("10.0.%d.%d:%d", rng.IntN(256), 1+rng.IntN(254), 32768+rng.IntN(28000)),
			Remote: fmt.Sprintf("203.0.%d.%d:%d", rng.IntN(256), 1+rng.IntN(254), []int{443, 80, 6667, 25, 3306}[rng.IntN(5)]), Inode: inode, UID: uid}
		switch rng.IntN(4) {
		case 0:
			s.Proto = "tcp6"
			s.Local = fmt.Sprintf("[2001:db8::%x]:%d", 1+rng.IntN(0xffff), 32768+rng.IntN(28000))
			s.Remote = fmt.Sprintf("[2001:db8:1::%x]:443", 1+rng.IntN(0xffff))
		case 1:
			s.Proto = "udp"
			s.Remote = fmt.Sprintf("198.51.100.%d:53", 1+rng.IntN(254))
		}
		spec.Sockets = append(spec.Sockets, s)
		p.Sockets = append(p.Sockets, inode)
	}

	// PID 1 and kthreadd, then kernel threads: about 6% of the tree.
	add(Proc{PID: nextPID(), PPID: 0, UID: 0, Exe: "/usr/lib/systemd/systemd", Cmdline: []string{"/sbin/init"}, Age: DefaultUptime, Files: files(6)})
	kthreadd := nextPID()
	add(Proc{PID: kthreadd, PPID: 0, Comm: "kthreadd", KernelThread: true, Age: DefaultUptime})
	kthreads := max(n*6/100, 1)
	kcomm := []string{"kworker/%d:1-events", "ksoftirqd/%d", "migration/%d", "rcu_gp%d", "jbd2/vda%d-8", "kworker/u%d:2-writeback"}
	for i := 1; i < kthreads; i++ {
		add(Proc{PID: nextPID(), PPID: kthreadd, Comm: fmt.Sprintf(kcomm[i%len(kcomm)], i%4), KernelThread: true, State: "I", Age: age(DefaultUptime)})
	}

	// System daemons, each in its own session and unit: about 8%.
	var fpm int
	for i := 0; len(spec.Procs) < kthreads+max(n*8/100, len(genDaemons)) && len(spec.Procs) < n; i++ {
		d := genDaemons[i%len(genDaemons)]
		p := Proc{PID: nextPID(), UID: d.uid, Exe: d.exe, Cmdline: append([]string{d.exe}, d.args...),
			Cgroup: "0::/system.slice/" + d.unit, Age: age(DefaultUptime), VMSize: 200 << 20, RSS: 12 << 20, Files: files(rng.IntN(12))}
		if i < len(genDaemons) && d.listen != "" {
			listen(&p, d.uid, d.listen)
		}
		if d.exe == "/usr/sbin/php-fpm8.2" && fpm == 0 {
			fpm = p.PID
		}
		add(p)
	}

	// Login sessions of login users (sshd, a shell, what they run) until
	// the tree is full; a pool of php-fpm workers as www-data and some
	// nobody processes are mixed in.
	for len(spec.Procs) < n {
		switch r := rng.IntN(10); {
		case r < 2 && fpm != 0:
			// A php-fpm pool: one session (the master's), many workers.
			for range 5 + rng.IntN(20) {
				if len(spec.Procs) >= n {
					break
				}
				p := Proc{PID: nextPID(), PPID: fpm, PGID: fpm, SID: fpm, UID: 33, Exe: "/usr/sbin/php-fpm8.2", Comm: "php-fpm8.2",
					Cmdline: []string{"php-fpm: pool www"}, Cgroup: "0::/system.slice/php8.2-fpm.service", Age: age(20 * time.Minute),
					VMSize: 300 << 20, RSS: 40 << 20, Files: files(4)}
				if rng.IntN(10) == 0 {
					connect(&p, 33)
				}
				add(p)
			}
		case r < 3:
			p := Proc{PID: nextPID(), UID: NobodyUID, Exe: "/usr/bin/perl", Cmdline: []string{"/usr/bin/perl", "/tmp/.x/bot.pl"}, Age: age(48 * time.Hour), Files: files(2)}
			if rng.IntN(3) == 0 {
				connect(&p, NobodyUID)
			}
			add(p)
		default:
			// A login session of a user: sshd's child, a shell, and a
			// few to dozens of programs.
			user := 1000 + rng.IntN(genLogins)
			sid := nextPID()
			unit := fmt.Sprintf("0::/user.slice/user-%d.slice/session-%d.scope", user, sid)
			// Most sessions and programs are younger than the 30
			// minutes of pt-user-resources' time limit, as on a host
			// whose owners keep alerts rare; some run for days.
			started := age(25 * time.Minute)
			if rng.IntN(10) < 3 {
				started = age(7 * 24 * time.Hour)
			}
			add(Proc{PID: sid, UID: user, Exe: "/usr/bin/bash", Cmdline: []string{"-bash"}, Comm: "bash", Cgroup: unit, Age: started, Files: files(1)})
			size := 1 + rng.IntN(8)
			if rng.IntN(10) == 0 {
				size = 20 + rng.IntN(40)
			}
			for range size {
				if len(spec.Procs) >= n {
					break
				}
				prog := genPrograms[rng.IntN(len(genPrograms))]
				child := nextPID()
				p := Proc{PID: child, PPID: sid, PGID: child, SID: sid, UID: user, Exe: prog.exe, Cmdline: append([]string{prog.exe}, prog.args...),
					Cgroup: unit, Age: min(started, age(25*time.Minute)), VMSize: int64(20+rng.IntN(480)) << 20, RSS: int64(2+rng.IntN(100)) << 20,
					UTime: time.Duration(rng.IntN(600)) * time.Second, Files: files(rng.IntN(20))}
				if strings.HasSuffix(prog.exe, "/java") {
					p.Cmdline = append(p.Cmdline, "-cp", genClasspath(rng), "com.example.Main")
				}
				switch rng.IntN(100) {
				case 0, 1:
					p.ExeDeleted = true
				case 2:
					p.State, p.Comm, p.Exe, p.Cmdline, p.Files = "Z", filepath.Base(prog.exe), "", nil, nil
				}
				if rng.IntN(100) < 6 {
					connect(&p, user)
				}
				add(p)
			}
		}
	}
	spec.Procs = spec.Procs[:n]

	inodeOwner := map[uint64]Socket{}
	for _, s := range spec.Sockets {
		inodeOwner[s.Inode] = s
	}
	uids, sessions := map[int]bool{}, map[int]int{}
	st.Procs = n
	for _, p := range spec.Procs {
		if p.KernelThread {
			st.KernelThreads++
			continue
		}
		uids[p.UID] = true
		sid := p.SID
		if sid == 0 {
			sid = p.PID
		}
		sessions[sid]++
		if p.State == "Z" {
			st.Zombies++
		}
		if p.ExeDeleted {
			st.Deleted++
		}
		conn, lis := false, false
		for _, in := range p.Sockets {
			if inodeOwner[in].Remote != "" {
				conn = true
			} else {
				lis = true
			}
		}
		if conn {
			st.Connected++
		}
		if lis {
			st.Listening++
		}
		if len(strings.Join(p.Cmdline, " ")) > 1000 {
			st.LongCmdlines++
		}
	}
	// Sockets of processes cut off by the size limit stay in the tables,
	// as sockets of processes that are gone do on a real host.
	st.Sockets = len(spec.Sockets)
	st.Users = len(uids)
	st.Sessions = len(sessions)
	for _, k := range sessions {
		st.LargestSession = max(st.LargestSession, k)
	}
	return spec, st
}

// genClasspath is a Java class path of a few kilobytes, as long command
// lines are in practice.
func genClasspath(rng *rand.Rand) string {
	var b strings.Builder
	for i := range 40 + rng.IntN(40) {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "/opt/app/lib/dependency-%d-%d.%d.%d.jar", i, rng.IntN(10), rng.IntN(30), rng.IntN(100))
	}
	return b.String()
}

// GenPasswd is the etc/passwd of every generated tree: the system users
// and the login users user1000 to user1039.
func GenPasswd() string {
	var b strings.Builder
	for _, u := range genSystemUsers {
		fmt.Fprintf(&b, "%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n", u.name, u.uid, u.uid)
	}
	for i := range genLogins {
		fmt.Fprintf(&b, "user%d:x:%d:%d::/home/user%d:/bin/bash\n", 1000+i, 1000+i, 1000+i, 1000+i)
	}
	return b.String()
}

// Generate writes the generated tree g into dir/proc (dir/etc/passwd names
// its users) and returns it with what it holds.
func Generate(f Fataler, dir string, g Gen) (*Tree, GenStats) {
	spec, st := GenSpec(g)
	tr := NewAt(f, filepath.Join(dir, "proc"))
	tr.helper()
	tr.SetHost(*spec.Host)
	tr.SetLoad(*spec.Load)
	tr.SetPasswd(GenPasswd())
	for _, p := range spec.Procs {
		tr.AddProc(p)
	}
	tr.addSockets(spec.Sockets)
	return tr, st
}

// addSockets appends many lines to the net tables, one write per table
// (AddSocket opens its table for each line).
func (tr *Tree) addSockets(ss []Socket) {
	tr.helper()
	lines := map[string]*strings.Builder{}
	for _, s := range ss {
		line, err := FormatNetLine(tr.slines[s.Proto], s)
		if err != nil {
			tr.f.Fatalf("proctest: %v", err)
			return
		}
		tr.slines[s.Proto]++
		if lines[s.Proto] == nil {
			lines[s.Proto] = &strings.Builder{}
		}
		lines[s.Proto].WriteString(line)
	}
	for proto, b := range lines {
		path := filepath.Join(tr.root, "net", proto)
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			tr.f.Fatalf("proctest: %v", err)
			return
		}
		_, err = f.WriteString(b.String())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			tr.f.Fatalf("proctest: %v", err)
		}
	}
}

// generated caches trees by Gen for the life of the test binary: writing
// 10,000 process directories takes seconds, and a benchmark function runs
// several times.
var generated struct {
	sync.Mutex
	trees map[Gen]genEntry
	dirs  []string
}

type genEntry struct {
	tree  *Tree
	stats GenStats
}

// onlyFatal hides the test's Cleanup from a cached tree, so that the
// unlinked executables of its deleted processes stay open after the test
// that generated it ends, until the test binary exits.
type onlyFatal struct{ f Fataler }

func (o onlyFatal) Fatalf(format string, args ...any) { o.f.Fatalf(format, args...) }

// Generated returns the tree g, written once per test binary into a
// directory of its own under the system's temporary directory. The tree is
// shared: callers must not change it. A test binary that uses it calls
// RemoveGenerated from its TestMain after m.Run.
func Generated(f Fataler, g Gen) (*Tree, GenStats) {
	generated.Lock()
	defer generated.Unlock()
	if e, ok := generated.trees[g]; ok {
		return e.tree, e.stats
	}
	dir, err := os.MkdirTemp("", "ptrule-gen-")
	if err != nil {
		f.Fatalf("proctest: %v", err)
		return nil, GenStats{}
	}
	generated.dirs = append(generated.dirs, dir)
	tr, st := Generate(onlyFatal{f}, dir, g)
	if generated.trees == nil {
		generated.trees = map[Gen]genEntry{}
	}
	generated.trees[g] = genEntry{tr, st}
	return tr, st
}

// RemoveGenerated removes every tree that Generated wrote.
func RemoveGenerated() {
	generated.Lock()
	defer generated.Unlock()
	for _, d := range generated.dirs {
		os.RemoveAll(d)
	}
	generated.dirs, generated.trees = nil, nil
}
