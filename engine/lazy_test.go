package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// copyLoader is a Loader for tests: it fills the facts of a process from
// the complete process it was made from, and records every load.
type copyLoader struct {
	full     []Process
	loads    map[int]Facts // by PID, what was read
	released bool
}

func (l *copyLoader) Load(i int, p *Process, f Facts) {
	if l.released {
		panic("Load after Release")
	}
	src := &l.full[i]
	if src.PID != p.PID {
		panic(fmt.Sprintf("Load of index %d: pid %d, loader has %d", i, p.PID, src.PID))
	}
	l.loads[p.PID] |= f
	if f.Has(FactExe) {
		p.Exe, p.ExeDeleted, p.ExeMismatch = src.Exe, src.ExeDeleted, src.ExeMismatch
	}
	if f.Has(FactCmdline) {
		p.Cmdline, p.Cmd = src.Cmdline, src.Cmd
	}
	if f.Has(FactCgroup) {
		p.Cgroup, p.Unit = src.Cgroup, src.Unit
	}
	if f.Has(FactSockets) {
		p.Connections, p.Listening = src.Connections, src.Listening
	}
}

func (l *copyLoader) Release() { l.released = true }

// lazyCopy returns a lazy snapshot of the processes of full (an eager
// snapshot) with every FactRead fact left unread, and its loader.
func lazyCopy(full *Snapshot) (*Snapshot, *copyLoader) {
	l := &copyLoader{full: slices.Clone(full.Procs), loads: map[int]Facts{}}
	procs := make([]Process, len(full.Procs))
	pending := make([]Facts, len(full.Procs))
	for i, p := range full.Procs {
		p.Exe, p.ExeDeleted, p.ExeMismatch = "", false, false
		p.Cmdline, p.Cmd, p.Cgroup, p.Unit = nil, "", "", ""
		p.Connections, p.Listening = nil, nil
		p.ParentExe, p.ParentExeDeleted, p.PgrpExe = "", false, ""
		procs[i], pending[i] = p, FactRead
	}
	return NewLazySnapshot(full.Time, full.Host, full.Load, procs, pending, l), l
}

// A lazy snapshot reads a fact only for the processes whose evaluation
// reaches it: a root process stops at proc.uid, so none of its facts is
// read; bob's php worker is read for its command line and, once matched,
// for everything, the way an alert shows it.
func TestLazyReadsWhatTheConditionReaches(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("php", "process", "", `proc.uid != 0 && proc.cmd == "php worker.php" && proc.age > duration("1h")`, "[alert: {}]")))
	snap, l := lazyCopy(sampleSnapshot())
	matches, errs := rs.Evaluate(snap, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(matches) != 1 || matches[0].Proc.PID != 4300 {
		t.Fatalf("matches %v, want pid 4300", matches)
	}
	want := map[int]Facts{
		4200: FactCmdline, 4301: FactCmdline, 5000: FactCmdline, 5100: FactCmdline, 6000: FactCmdline,
		4300: FactRead, // matched: read whole
		// 4300's parent 4200 and its group leader (itself) give its
		// parent_exe and pgrp_exe.
	}
	want[4200] |= FactExe
	if fmt.Sprint(l.loads) != fmt.Sprint(want) {
		t.Errorf("loads %v, want %v", l.loads, want)
	}
	m := matches[0]
	if m.Proc.Exe != "/usr/bin/php" || m.Proc.ParentExe != "/bin/bash" || len(m.Proc.Connections) != 1 {
		t.Errorf("the match's process is not read whole: %+v", *m.Proc)
	}
	snap.Release()
	if !l.released {
		t.Error("Release did not release the loader")
	}
}

// An ignore list reads the facts of its kinds of entries only: a list of
// user: entries reads nothing, one with exe: entries reads the exe of the
// processes it is asked about and nothing else.
func TestLazyIgnoreReadsItsKinds(t *testing.T) {
	for _, tt := range []struct {
		name, list string
		want       Facts // what each asked process has read
	}{
		{"users only", "user:alice\npuser:^nobody$\n", 0},
		{"executables", "user:alice\nexe:/usr/sbin/sshd\n", FactExe},
		{"commands", "pcmd:^x$\n", FactCmdline},
		{"units", "unit:cron.service\n", FactCgroup},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rs := loadOK(t, yamlFile("r.yaml", ruleText("r", "process", "", `proc.uid == 1001 && !ignored && proc.pid < 0`, "[alert: {}]")),
				File{Path: "x.pignore", Data: []byte(tt.list)})
			snap, l := lazyCopy(sampleSnapshot())
			v, _, errs := rs.EvaluateView(snap, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			for _, pid := range []int{1, 800, 5000, 5100, 6000} {
				if l.loads[pid] != 0 {
					t.Errorf("pid %d (not uid 1001) read %b", pid, l.loads[pid])
				}
				if _, ok := v.DecidedIgnoredBy(v.byPID[pid]); ok {
					t.Errorf("pid %d: an ignore decision was made", pid)
				}
			}
			for _, pid := range []int{4200, 4300, 4301} {
				if l.loads[pid] != tt.want {
					t.Errorf("pid %d (uid 1001) read %b, want %b", pid, l.loads[pid], tt.want)
				}
				if _, ok := v.DecidedIgnoredBy(v.byPID[pid]); ok {
					t.Errorf("pid %d is hidden", pid)
				}
			}
		})
	}
}

// Aggregates count on first use: pt-forkbomb's count_all guard keeps the
// ignore decisions (and the exe reads of an exe: list) away from every
// session smaller than its max.
func TestLazyAggregatesOnFirstUse(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("bomb", "session", "", `session.count_all >= 3 && session.count >= 3`, "[alert: {}]")),
		File{Path: "x.pignore", Data: []byte("exe:/usr/bin/php\n")})
	snap, l := lazyCopy(sampleSnapshot())
	matches, errs := rs.Evaluate(snap, nil)
	if len(errs) > 0 || len(matches) != 0 {
		t.Fatalf("matches %v, errors %v: bob's session has 3 processes of which 2 are ignored", matches, errs)
	}
	for pid, f := range l.loads {
		if pid != 4200 && pid != 4300 && pid != 4301 {
			t.Errorf("pid %d outside the only session of 3 read %b", pid, f)
		}
	}
	if l.loads[4300] != FactExe {
		t.Errorf("pid 4300 read %b, want its exe for the ignore list", l.loads[4300])
	}
}

// A rule reading through dyn cannot be seen by lazy field access: what it
// reads is read for every process first, and it matches as over an eager
// snapshot.
func TestLazyDynReadsBeforehand(t *testing.T) {
	rs := loadOK(t, yamlFile("r.yaml", ruleText("r", "process", "", `dyn(proc).cmd == "php worker.php"`, "[alert: {}]")))
	snap, _ := lazyCopy(sampleSnapshot())
	matches, errs := rs.Evaluate(snap, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var pids []int
	for _, m := range matches {
		pids = append(pids, m.Proc.PID)
	}
	if fmt.Sprint(pids) != "[4300 4301]" {
		t.Errorf("matched %v, want [4300 4301]", pids)
	}
}

// randomSnapshot is a host of n processes with varied facts, for comparing
// lazy and eager evaluation.
func randomSnapshot(seed uint64, n int) *Snapshot {
	r := rand.New(rand.NewPCG(seed, 1))
	exes := []string{"/usr/sbin/sshd", "/usr/bin/php", "/bin/bash", "/usr/sbin/apache2", "/tmp/.x", "/usr/bin/python3", "/usr/sbin/named"}
	users := []string{"root", "bob", "alice", "www-data", "nobody"}
	procs := make([]Process, 0, n)
	for i := range n {
		pid := 100 + i
		u := r.IntN(len(users))
		exe := exes[r.IntN(len(exes))]
		age := time.Duration(r.IntN(7200)) * time.Second
		p := Process{
			PID: pid, PPID: 100 + r.IntN(i+1), PGID: pid, SID: 100 + r.IntN(i+1)/7*7, UID: u * 1000, User: users[u],
			Exe: exe, ExeDeleted: r.IntN(20) == 0, Comm: exe[strings.LastIndex(exe, "/")+1:],
			Cmdline: []string{exe, fmt.Sprint(r.IntN(3))}, State: "S", Age: age, Start: t0.Add(-age),
			StartTicks: uint64((48*time.Hour - age) / (10 * time.Millisecond)),
			VMSize:     int64(r.IntN(1 << 30)), RSS: int64(r.IntN(1 << 28)), Threads: 1,
		}
		if p.UID == 4000 {
			p.User = "nobody"
		}
		if r.IntN(4) == 0 {
			p.Unit, p.Cgroup = "cron.service", "/system.slice/cron.service"
		}
		if r.IntN(5) == 0 {
			p.Connections = []Socket{{Proto: "tcp", LocalIP: "10.0.0.1", LocalPort: 40000 + i, RemoteIP: "198.51.100.7", RemotePort: []int{80, 6667}[r.IntN(2)], State: "ESTABLISHED"}}
		}
		if r.IntN(9) == 0 {
			p.Cmdline = []string{"sshd: unknown [net]"}
			p.Comm = "sshd"
		}
		p.Cmd = strings.Join(p.Cmdline, " ")
		procs = append(procs, p)
	}
	return NewSnapshot(t0, Host{Name: "h", CPUs: 2, Uptime: 48 * time.Hour}, Load{Avg1: 9, Avg5: 9, Avg15: 9}, procs)
}

// The built-in rules give the same matches, with the same alerts, over a
// lazy snapshot as over an eager one, whatever the ignore list.
func TestLazyEvaluationMatchesEager(t *testing.T) {
	lists := []string{
		"",
		"exe:/usr/bin/php\nuser:alice\n",
		"pcmd:^/bin/bash 1$\nunit:cron.service\npexe:^/usr/sbin/\n",
	}
	for seed := range uint64(4) {
		for li, list := range lists {
			t.Run(fmt.Sprintf("seed %d list %d", seed, li), func(t *testing.T) {
				files := append(builtinFiles(t), yamlFile("zz.yaml",
					"rules:\n  - name: pt-forkbomb\n    params: {max: 5}\n  - name: pt-forkbomb-user\n    enabled: true\n    params: {max: 30}\n  - name: pt-user-procs\n    params: {max: 20}\n"))
				if list != "" {
					files = append(files, File{Path: "zz.pignore", Data: []byte(list)})
				}
				rs := loadOK(t, files...)
				eager := randomSnapshot(seed, 300)
				lazy, _ := lazyCopy(randomSnapshot(seed, 300))
				a, b := describe(t, rs, eager), describe(t, rs, lazy)
				if a != b {
					t.Errorf("lazy evaluation differs:\neager %s\nlazy  %s", a, b)
				}
				if !strings.Contains(a, "fired") {
					t.Fatalf("nothing matched: the comparison proves nothing\n%s", a)
				}
			})
		}
	}
}

// describe evaluates rs over s and prints every match with its rendered
// alert and facts.
func describe(t *testing.T, rs *RuleSet, s *Snapshot) string {
	t.Helper()
	matches, errs := rs.Evaluate(s, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var b strings.Builder
	for _, d := range Decide(matches, NewMemStore(), s.Time) {
		subject, message, err := d.Render(NoEnricher{})
		fmt.Fprintf(&b, "%s %s %s %q %q %v %v\n", d.Status, d.Rule.Name, d.Key, subject, message, err, d.Facts())
	}
	return b.String()
}
