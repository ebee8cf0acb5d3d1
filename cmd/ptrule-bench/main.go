// Command ptrule-bench measures ptrule against ps on this machine, in one
// run: it starts a population of sleeping processes of its own (as root
// and as nobody, in sessions of various sizes, some holding files, TCP
// connections to a loopback listener and UDP sockets), then times
//
//   - ps -eo pid,ppid,uid,sid,etimes,vsz,rss,time,comm,args (CPU and wall),
//   - ptrule scan, with pt-load quiet and with pt-load firing (CPU, wall),
//   - ptrule check (wall: the start-up fixed cost),
//   - a running ptrule run daemon: CPU per tick from /proc/PID/stat over
//     windows of ticks without firings, and its VmRSS and VmHWM,
//
// and prints each median with its ratio to ps and the target of issue 12.
// `make bench` runs it after the Go benchmarks; `make bench-growth` runs it
// for 1,000 to 10,000 processes. See BENCHMARKS.md.
//
// It needs root (to start processes as nobody and read every process) and
// says so and exits 0 otherwise. It signals only what it started: the
// process groups of the sessions it created (each led by a process it
// started with setsid) and its daemon, by pid. Every process it starts dies
// with it (PR_SET_PDEATHSIG), it reaps what it started on every way out,
// Ctrl-C included, and each sleeper lives two hours at most.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"ptrule/builtin/proc"
)

// psArgs is the ps of issue 12: what an administrator runs to see every
// process with its owner, session, age, sizes, CPU time and command line.
var psArgs = []string{"-eo", "pid,ppid,uid,sid,etimes,vsz,rss,time,comm,args"}

// nobody is the uid of the unprivileged part of the population.
const nobody = 65534

// lifetime bounds each sleeper, should the driver die in a way that its
// death signal does not reach a grandchild.
const lifetime = "7200"

// minAge is pt-suspicious' min_age plus a margin: the measurements wait
// until every process of the population is older, so that the rule reaches
// the sockets of every unprivileged process, as it does on a real host
// whose processes are not all new.
const minAge = 62 * time.Second

func main() {
	procsFlag := flag.String("procs", "2000", "population sizes to measure, comma-separated (e.g. 1000,2000,5000,10000)")
	reps := flag.Int("reps", 5, "repetitions of each measure; the tables show medians")
	ticks := flag.Int("ticks", 5, "daemon ticks per CPU window")
	interval := flag.Duration("interval", time.Second, "the daemon's interval")
	ptrule := flag.String("ptrule", "", "ptrule binary to measure; empty builds ./cmd/ptrule into a temporary directory")
	out := flag.String("out", "", "also write the tables (markdown) to this file")
	unprivileged := flag.Int("unprivileged", 60, "percent of the sleepers' sessions run as nobody, in tens (0-100): pt-suspicious walks the descriptors of every unprivileged process older than its min_age")
	flag.Parse()

	var sizes []int
	for f := range strings.SplitSeq(*procsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 {
			fail("-procs: %q is not a number of at least 100", f)
		}
		sizes = append(sizes, n)
	}
	if *reps < 1 || *ticks < 1 || *interval <= 0 {
		fail("-reps and -ticks must be at least 1 and -interval positive")
	}
	if *unprivileged < 0 || *unprivileged > 100 {
		fail("-unprivileged: %d is not a percentage", *unprivileged)
	}
	if os.Geteuid() != 0 {
		fmt.Println("side by side: skipped: it needs root to start processes as nobody and to read every process's /proc as the daemon does; run `make bench` as root")
		return
	}
	// Orphans of the population (a session's sleepers whose leader died)
	// come back to this process, which reaps them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fail("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "side by side: %v: stopping what it started\n", sig)
		cleanup()
		os.Exit(130)
	}()

	tmp, err := os.MkdirTemp("", "ptrule-bench-")
	if err != nil {
		fail("%v", err)
	}
	atCleanup(func() { os.RemoveAll(tmp) })
	env, err := setup(tmp, *ptrule)
	if err != nil {
		cleanup()
		fail("%v", err)
	}
	env.unprivileged = *unprivileged

	var results []*result
	for _, n := range sizes {
		r, err := measure(env, n, *reps, *ticks, *interval)
		if err != nil {
			cleanup()
			fail("%d processes: %v", n, err)
		}
		results = append(results, r)
		fmt.Println(r.table())
	}
	if len(results) > 1 {
		fmt.Println(growthTable(results))
	}
	if *out != "" {
		var b strings.Builder
		b.WriteString(machine() + "\n\n")
		for _, r := range results {
			b.WriteString(r.table() + "\n")
		}
		if len(results) > 1 {
			b.WriteString(growthTable(results) + "\n")
		}
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			cleanup()
			fail("%v", err)
		}
	}
	cleanup()
}

// fail prints an error and exits 1; the caller has cleaned up.
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "side by side: "+format+"\n", args...)
	os.Exit(1)
}

// cleanups run, last first, on every way out: the population, the daemon,
// the temporary directory.
var cleanups struct {
	sync.Mutex
	fns []func()
}

func atCleanup(fn func()) {
	cleanups.Lock()
	defer cleanups.Unlock()
	cleanups.fns = append(cleanups.fns, fn)
}

func cleanup() {
	cleanups.Lock()
	fns := cleanups.fns
	cleanups.fns = nil
	cleanups.Unlock()
	for _, fn := range slices.Backward(fns) {
		fn()
	}
}

// env is what every measurement shares: the binary and its files.
type env struct {
	dir, ptrule, sleep, sh string
	// config is the hermetic config; quiet patches pt-load so that it
	// never fires, loud so that it always does.
	config, quiet, loud string
	// unprivileged is the percentage, in tens, of the sleepers' sessions
	// that run as nobody.
	unprivileged int
}

func setup(dir, ptrule string) (*env, error) {
	e := &env{}
	var err error
	if e.sleep, err = exec.LookPath("sleep"); err != nil {
		return nil, err
	}
	if e.sh, err = exec.LookPath("sh"); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("ps"); err != nil {
		return nil, err
	}
	if ptrule == "" {
		ptrule = filepath.Join(dir, "ptrule")
		build := exec.Command("go", "build", "-o", ptrule, "./cmd/ptrule")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("building ptrule (run from the repository's top directory): %w", err)
		}
	}
	if e.ptrule, err = filepath.Abs(ptrule); err != nil {
		return nil, err
	}
	e.dir = dir
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		return nil, err
	}
	write := func(name, text string) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(text), 0o644)
	}
	// Hermetic: no rules directory of the machine, state in dir, no
	// channel; monitor mode, so nothing is ever killed or run.
	if e.config, err = write("ptrule.yaml", fmt.Sprintf("mode: monitor\nrules_dirs: []\nstate_dir: %s\ndefault_channels: []\n", state)); err != nil {
		return nil, err
	}
	if e.quiet, err = write("pt-load-quiet.yaml", "rules:\n  - {name: pt-load, params: {level: 1000000.0}}\n"); err != nil {
		return nil, err
	}
	if e.loud, err = write("pt-load-firing.yaml", "rules:\n  - {name: pt-load, params: {level: 0.0}}\n"); err != nil {
		return nil, err
	}
	if out, err := exec.Command(e.ptrule, "check", "--config", e.config, "--rules", e.quiet).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ptrule check of the benchmark's config: %v\n%s", err, out)
	}
	return e, nil
}

// population is the processes the driver started: session leaders it
// started with setsid, and the sleepers of their sessions.
type population struct {
	leaders []*exec.Cmd
	sids    map[int]bool
	n       int
	// tcp, udp and files count the processes holding a TCP connection, a
	// UDP socket and extra open files; nobody those that run as nobody.
	tcp, udp, files, nobody int
	// up is when the last process of the population was seen.
	up time.Time
}

// startPopulation starts n processes. It registers their killing first,
// so that a failure halfway leaves nothing behind.
func startPopulation(e *env, n int) (*population, error) {
	pop := &population{sids: map[int]bool{}, n: n}
	atCleanup(pop.stop)
	held := filepath.Join(e.dir, "held-file")
	if err := os.WriteFile(held, []byte("held open by part of the population\n"), 0o644); err != nil {
		return pop, err
	}
	start := func(uid int, size int, files []*os.File) error {
		var cmd *exec.Cmd
		if size == 1 {
			cmd = exec.Command(e.sleep, lifetime)
		} else {
			// A session of size processes: the shell starts size-1
			// sleepers and becomes the last one.
			cmd = exec.Command(e.sh, "-c", fmt.Sprintf(`i=1; while [ $i -lt %d ]; do %s %s & i=$((i+1)); done; exec %s %s`, size, e.sleep, lifetime, e.sleep, lifetime))
		}
		cmd.Dir = "/"
		cmd.ExtraFiles = files
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Setsid:     true,
			Pdeathsig:  syscall.SIGKILL,
			Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)},
		}
		err := cmd.Start()
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("starting a session of %d as uid %d: %w", size, uid, err)
		}
		pop.leaders = append(pop.leaders, cmd)
		pop.sids[cmd.Process.Pid] = true
		return nil
	}

	// About 5% hold a TCP connection to a loopback listener, whose
	// accepted ends (100 a process) and the listener itself are held by
	// root processes; about 2% hold a UDP socket, half of them connected.
	nTCP, nUDP := n*5/100, n*2/100
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return pop, err
	}
	defer ln.Close()
	var accepted []*os.File
	for range nTCP {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return pop, err
		}
		s, err := ln.Accept()
		if err != nil {
			c.Close()
			return pop, err
		}
		cf, err1 := c.(*net.TCPConn).File()
		sf, err2 := s.(*net.TCPConn).File()
		c.Close()
		s.Close()
		if err := errors.Join(err1, err2); err != nil {
			return pop, err
		}
		accepted = append(accepted, sf)
		if err := start(nobody, 1, []*os.File{cf}); err != nil {
			return pop, err
		}
		pop.tcp++
		pop.nobody++
	}
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		return pop, err
	}
	holders := 0
	for first := true; first || len(accepted) > 0; first = false {
		k := min(len(accepted), 100)
		files := accepted[:k:k]
		if first {
			files = append(files, lf)
		}
		accepted = accepted[k:]
		if err := start(0, 1, files); err != nil {
			return pop, err
		}
		holders++
	}
	for i := range nUDP {
		var c *net.UDPConn
		if i%2 == 0 {
			c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		} else {
			// connect(2) on UDP sends nothing: it only sets the peer.
			c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
		}
		if err != nil {
			return pop, err
		}
		f, err := c.File()
		c.Close()
		if err != nil {
			return pop, err
		}
		uid := []int{nobody, 0}[i%2]
		if err := start(uid, 1, []*os.File{f}); err != nil {
			return pop, err
		}
		pop.udp++
		if uid == nobody {
			pop.nobody++
		}
	}

	// The rest: sessions of 1 to 40 processes, e.unprivileged percent of
	// them (in tens) as nobody, every third holding two extra open files.
	sizes := []int{1, 1, 1, 2, 3, 5, 8, 13, 40, 1, 1, 4}
	left := n - nTCP - nUDP - holders
	for i := 0; left > 0; i++ {
		size := min(sizes[i%len(sizes)], left)
		uid := 0
		if i%10 < e.unprivileged/10 {
			uid = nobody
			pop.nobody += size
		}
		var files []*os.File
		if i%3 == 0 {
			for _, p := range []string{held, os.DevNull} {
				f, err := os.Open(p)
				if err != nil {
					return pop, err
				}
				files = append(files, f)
			}
			pop.files += size
		}
		if err := start(uid, size, files); err != nil {
			return pop, err
		}
		left -= size
	}

	// Wait until every process exists.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := pop.count()
		if got == n {
			break
		}
		if got > n || time.Now().After(deadline) {
			return pop, fmt.Errorf("the population has %d processes, want %d", got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pop.up = time.Now()
	return pop, nil
}

// count counts the processes in the population's sessions.
func (pop *population) count() int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	n := 0
	for _, d := range ents {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		st, err := proc.ParseStat(data)
		if err == nil && pop.sids[st.Session] && st.State != "Z" {
			n++
		}
	}
	return n
}

// stop kills the population's process groups (one a session, led by a
// process this driver started) and reaps every child, the orphaned
// sleepers included.
func (pop *population) stop() {
	for _, c := range pop.leaders {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	for _, c := range pop.leaders {
		_ = c.Wait()
	}
	pop.leaders = nil
	reapOrphans()
}

// reapOrphans reaps the children that came to this subreaper, until none
// is left or ten seconds have passed.
func reapOrphans() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.ECHILD):
			return
		case err == nil && pid == 0:
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// run is one finished command: its wall time and its CPU time (user and
// system, from its rusage).
type run struct {
	wall, cpu time.Duration
}

func runCmd(stdout string, argv ...string) (run, error) {
	f, err := os.Create(stdout)
	if err != nil {
		return run{}, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	err = cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		return run{}, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	st := cmd.ProcessState
	return run{wall: wall, cpu: st.UserTime() + st.SystemTime()}, nil
}

// result is everything measured on one population.
type result struct {
	n, hostProcs            int
	tcp, udp, files, nobody int
	reps, ticks             int
	interval                time.Duration
	ps, scan, loud, chk     []run
	scanMatches             int
	loudMatches             int
	tickCPU                 []time.Duration
	tickProcs               int
	vmRSS, vmHWM            int64
	loadBefore, loadAfter   string
}

func measure(e *env, n, reps, ticks int, interval time.Duration) (*result, error) {
	r := &result{n: n, reps: reps, ticks: ticks, interval: interval, loadBefore: loadavg()}
	fmt.Fprintf(os.Stderr, "side by side: starting %d processes\n", n)
	pop, err := startPopulation(e, n)
	if err != nil {
		return nil, err
	}
	r.tcp, r.udp, r.files, r.nobody = pop.tcp, pop.udp, pop.files, pop.nobody
	defer pop.stop()

	// ptrule check depends on no process: it runs while the population
	// ages past pt-suspicious' min_age.
	fmt.Fprintf(os.Stderr, "side by side: %d processes up; ptrule check while they age %v\n", n, minAge)
	out := filepath.Join(e.dir, "out")
	for range reps {
		c, err := runCmd(out, e.ptrule, "check", "--config", e.config, "--rules", e.quiet)
		if err != nil {
			return nil, err
		}
		r.chk = append(r.chk, c)
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Until(pop.up.Add(minAge)))

	fmt.Fprintf(os.Stderr, "side by side: ps and ptrule scan, %d times\n", reps)
	for range reps {
		p, err := runCmd(out, append([]string{"ps"}, psArgs...)...)
		if err != nil {
			return nil, err
		}
		r.ps = append(r.ps, p)
		if r.hostProcs, err = countLines(out); err != nil {
			return nil, err
		}
		r.hostProcs-- // the header
		s, err := runCmd(out, e.ptrule, "scan", "--config", e.config, "--rules", e.quiet, "--format", "json")
		if err != nil {
			return nil, err
		}
		r.scan = append(r.scan, s)
		if r.scanMatches, err = countLines(out); err != nil {
			return nil, err
		}
		l, err := runCmd(out, e.ptrule, "scan", "--config", e.config, "--rules", e.loud, "--format", "json")
		if err != nil {
			return nil, err
		}
		r.loud = append(r.loud, l)
		if r.loudMatches, err = countLines(out); err != nil {
			return nil, err
		}
		if err := mustHaveRule(out, "pt-load"); err != nil {
			return nil, err
		}
	}

	fmt.Fprintf(os.Stderr, "side by side: ptrule run, %d windows of %d ticks of %v\n", reps, ticks, interval)
	if err := measureDaemon(e, r, interval); err != nil {
		return nil, err
	}
	r.loadAfter = loadavg()
	if got := pop.count(); got != n {
		return nil, fmt.Errorf("%d of the %d processes were left at the end: something killed them", got, n)
	}
	return r, nil
}

// measureDaemon runs ptrule run and takes its CPU time over windows of
// r.ticks ticks, from the end of one logged tick to the end of another, so
// that start-up and the idle waits between ticks are outside (the waits
// cost nothing measurable). A window in which a rule fired (the first
// ticks alert on what they find, later ones are suppressed) is dropped:
// the figure is the steady state.
func measureDaemon(e *env, r *result, interval time.Duration) error {
	cfg := filepath.Join(e.dir, "daemon.yaml")
	data, err := os.ReadFile(e.config)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg, append(data, fmt.Sprintf("interval: %s\n", interval)...), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(e.ptrule, "run", "--config", cfg, "--rules", e.quiet, "--log-format", "json", "--log-level", "debug")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := false
	stop := func() {
		if done {
			return
		}
		done = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		t := time.AfterFunc(15*time.Second, func() { _ = cmd.Process.Kill() })
		_ = cmd.Wait()
		t.Stop()
	}
	atCleanup(stop)
	defer stop()

	type tick struct {
		fired, procs int
	}
	ticksCh := make(chan tick, 64)
	var logTail []string
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			line := sc.Text()
			var m struct {
				Msg       string `json:"msg"`
				Fired     int    `json:"fired"`
				Processes int    `json:"processes"`
			}
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "tick" {
				ticksCh <- tick{m.Fired, m.Processes}
				continue
			}
			tailMu.Lock()
			logTail = append(logTail, line)
			if len(logTail) > 20 {
				logTail = logTail[1:]
			}
			tailMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		close(ticksCh)
	}()
	next := func() (tick, error) {
		select {
		case t, ok := <-ticksCh:
			if ok {
				return t, nil
			}
		case <-time.After(30*time.Second + 10*interval):
		}
		tailMu.Lock()
		defer tailMu.Unlock()
		return tick{}, fmt.Errorf("ptrule run logged no tick: its last lines:\n%s", strings.Join(logTail, "\n"))
	}
	pid := cmd.Process.Pid
	// The first ticks: start-up, and the alerts on what the population
	// holds, which are then suppressed.
	for range 2 {
		if _, err := next(); err != nil {
			return err
		}
	}
	for attempts := 0; len(r.tickCPU) < r.reps; attempts++ {
		if attempts > 3*r.reps {
			return fmt.Errorf("only %d of %d windows of ticks without firings", len(r.tickCPU), r.reps)
		}
		c0, err := cpuOf(pid)
		if err != nil {
			return err
		}
		fired := 0
		for range r.ticks {
			t, err := next()
			if err != nil {
				return err
			}
			fired += t.fired
			r.tickProcs = t.procs
		}
		c1, err := cpuOf(pid)
		if err != nil {
			return err
		}
		if fired == 0 {
			r.tickCPU = append(r.tickCPU, (c1-c0)/time.Duration(r.ticks))
		}
	}
	r.vmRSS, r.vmHWM, err = memOf(pid)
	return err
}

// cpuOf is utime+stime of a process from its stat.
func cpuOf(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	st, err := proc.ParseStat(data)
	if err != nil {
		return 0, err
	}
	hz := proc.ClockTicks()
	t := st.UTime + st.STime
	return time.Duration(t/hz)*time.Second + time.Duration(t%hz)*time.Second/time.Duration(hz), nil
}

// memOf is VmRSS and VmHWM of a process, in bytes.
func memOf(pid int) (rss, hwm int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s in /proc/%d/status: %v", k, pid, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}

func countLines(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(data), "\n"), nil
}

// mustHaveRule checks that a scan's JSON output has a match of rule.
func mustHaveRule(path, rule string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		var m struct {
			Rule string `json:"rule"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Rule == rule {
			return nil
		}
	}
	return fmt.Errorf("ptrule scan with %s's level at 0 reported no %s match", rule, rule)
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// machine describes this machine for the record.
func machine() string {
	model := "?"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	kernel := "?"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	return fmt.Sprintf("machine: %d CPUs (%s), Linux %s, %s", runtime.NumCPU(), model, kernel, runtime.Version())
}

func median[T int64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func walls(rs []run) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = r.wall
	}
	return out
}

func cpus(rs []run) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = r.cpu
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// verdict says whether a ratio or value meets its target.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func (r *result) table() string {
	psCPU, psWall := median(cpus(r.ps)), median(walls(r.ps))
	tick := median(r.tickCPU)
	scanWall, scanCPU := median(walls(r.scan)), median(cpus(r.scan))
	loudWall, loudCPU := median(walls(r.loud)), median(cpus(r.loud))
	chk := median(walls(r.chk))
	var b strings.Builder
	fmt.Fprintf(&b, "### %d processes started by the driver (%d on the host by ps's count)\n\n", r.n, r.hostProcs)
	fmt.Fprintf(&b, "%d run as nobody; %d hold a TCP connection, %d a UDP socket, %d extra open files; medians of %d runs (ticks: %d windows of %d ticks of %v; the daemon saw %d processes); load average %s before, %s after.\n\n",
		r.nobody, r.tcp, r.udp, r.files, r.reps, len(r.tickCPU), r.ticks, r.interval, r.tickProcs, r.loadBefore, r.loadAfter)
	b.WriteString("| what | ps | ptrule | ratio | target | |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| daemon steady-state tick, CPU | %s | %s | %.2f× | ≤ 0.5× ps | %s |\n", ms(psCPU), ms(tick), ratio(tick, psCPU), verdict(ratio(tick, psCPU) <= 0.5))
	fmt.Fprintf(&b, "| `scan` (pt-load quiet, %d matches), wall | %s | %s | %.2f× | ≤ 1.0× ps | %s |\n", r.scanMatches, ms(psWall), ms(scanWall), ratio(scanWall, psWall), verdict(ratio(scanWall, psWall) <= 1))
	fmt.Fprintf(&b, "| `scan` (pt-load quiet), CPU | %s | %s | %.2f× | | |\n", ms(psCPU), ms(scanCPU), ratio(scanCPU, psCPU))
	fmt.Fprintf(&b, "| `scan` (pt-load firing, %d matches), wall | %s | %s | %.2f× | ≤ 1.0× ps | %s |\n", r.loudMatches, ms(psWall), ms(loudWall), ratio(loudWall, psWall), verdict(ratio(loudWall, psWall) <= 1))
	fmt.Fprintf(&b, "| `scan` (pt-load firing), CPU | %s | %s | %.2f× | | |\n", ms(psCPU), ms(loudCPU), ratio(loudCPU, psCPU))
	fmt.Fprintf(&b, "| `check` on the defaults, wall | | %s | | ≤ 50 ms | %s |\n", ms(chk), verdict(chk <= 50*time.Millisecond))
	fmt.Fprintf(&b, "| daemon VmRSS / VmHWM | | %s / %s | | ≤ 40 MiB at 10,000 | %s |\n", mib(r.vmRSS), mib(r.vmHWM), verdict(r.vmHWM <= 40<<20))
	return b.String()
}

func growthTable(rs []*result) string {
	var b strings.Builder
	b.WriteString("### Growth\n\n| processes (driver's) | on the host | ps CPU | tick CPU | tick/ps | tick CPU per process | scan wall | scan/ps wall | VmHWM |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		psCPU, psWall := median(cpus(r.ps)), median(walls(r.ps))
		tick := median(r.tickCPU)
		scanWall := median(walls(r.scan))
		per := time.Duration(0)
		if r.hostProcs > 0 {
			per = tick / time.Duration(r.hostProcs)
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %.2f× | %.1f µs | %s | %.2f× | %s |\n",
			r.n, r.hostProcs, ms(psCPU), ms(tick), ratio(tick, psCPU), float64(per)/float64(time.Microsecond), ms(scanWall), ratio(scanWall, psWall), mib(r.vmHWM))
	}
	return b.String()
}
