package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"ptrule/builtin"
	"ptrule/builtin/collect"
	"ptrule/builtin/proc"
	"ptrule/builtin/state"
	"ptrule/engine"
)

// stopGrace bounds how long in-flight actions may run after SIGTERM.
const stopGrace = 10 * time.Second

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "[--config F] [--rules P]... [--log-format text|json] [--log-level info|debug]",
		"ptrule run --config /etc/ptrule/ptrule.yaml --log-level debug", stderr)
	var c commonFlags
	c.register(fs, true)
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule run:", err)
		return exitUsage
	}
	if err := builtin.CheckProcfs(c.proc); err != nil {
		fmt.Fprintf(stderr, "ptrule run: refused: %v. The daemon signals and runs programs on this host, where a pid read there may name an unrelated process: drop --proc, or try rules on that tree with ptrule scan (without --act)\n", err)
		return exitUsage
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	d := &daemon{config: c.config, procRoot: c.proc, log: log}
	src := c.sources(stderr)
	src.trust.Warn = func(err error) {
		// Once per finding per load: every start and reload says it again.
		if !d.insecureSeen[err.Error()] {
			d.insecureSeen[err.Error()] = true
			log.Warn("--insecure-files accepts a file a user other than root could change", "err", err)
		}
	}
	d.sources = src
	return d.run(sigs)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("unknown --log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown --log-format %q: use text or json", format)
}

// snapshotter reads the facts of the host: a *collect.Collector.
type snapshotter interface {
	Collect(collect.CollectOptions) (*engine.Snapshot, error)
	BootClock() (proc.BootClock, error)
}

// daemon is `ptrule run`: collect → evaluate → decide → act, each rule on
// its own schedule.
type daemon struct {
	config   string
	sources  ruleSources
	procRoot string
	log      *slog.Logger

	cfg       *Config
	rules     *engine.RuleSet
	store     *state.FileStore
	collector snapshotter
	actor     *actor
	// next is when each rule is due next, by name.
	next map[string]time.Time
	// insecureSeen holds what --insecure-files accepted in this load,
	// so that each is logged once per load.
	insecureSeen map[string]bool
}

// load reads config and rules. Bad ignore-list lines are logged and the
// rest kept; any other problem fails the load, and the caller keeps what
// it had.
func (d *daemon) load() (*Config, *engine.RuleSet, bool) {
	d.insecureSeen = map[string]bool{}
	cfg, err := loadConfig(d.config, d.sources.trust)
	if err != nil {
		d.logProblems("config", err)
		return nil, nil, false
	}
	files, err := ruleFiles(cfg, d.sources)
	if err != nil {
		d.log.Error("reading rules", "err", err)
		return nil, nil, false
	}
	rs, ps := engine.LoadRules(files)
	if len(ps) > len(rs.IgnoreProblems) {
		d.logProblems("rules", ps)
		return nil, nil, false
	}
	d.logProblems("ignore list", rs.IgnoreProblems)
	return cfg, rs, true
}

func (d *daemon) logProblems(what string, err error) {
	if err == nil {
		return
	}
	if ps, ok := err.(engine.Problems); ok {
		for _, p := range ps {
			d.log.Error("bad "+what, "at", p.Pos.String(), "problem", p.Msg)
		}
		return
	}
	d.log.Error("bad "+what, "err", err)
}

// apply makes a loaded config and rule set the running ones.
func (d *daemon) apply(cfg *Config, rs *engine.RuleSet) error {
	if d.collector == nil {
		col, err := newCollector(d.procRoot)
		if err != nil {
			return err
		}
		d.collector = col
	}
	if d.store == nil || (d.cfg != nil && d.cfg.StateDir != cfg.StateDir) {
		clk, err := d.collector.BootClock()
		if err != nil {
			d.log.Warn("boot time unknown: suppressions of processes in a state file of an older ptrule are dropped", "err", err)
		}
		store, err := state.OpenFileStore(cfg.StateDir, time.Now(), clk)
		if err != nil {
			d.log.Warn("suppression state could not be read and starts empty", "err", err)
		}
		if m := store.Migrated(); m != "" {
			d.log.Info("suppression state migrated", "detail", m)
		}
		if d.store != nil {
			if err := d.store.Save(time.Now()); err != nil {
				d.log.Error("saving suppression state", "err", err)
			}
		}
		d.store = store
	}
	// Rules keep their schedule across a reload; new ones are due now. A
	// rule whose period changed (its every, or the interval it follows) is
	// due one new period after its last run: moved from 1h to 30s, it
	// must not wait out the hour.
	period := func(r *engine.Rule, c *Config) time.Duration {
		if r.Every > 0 {
			return r.Every
		}
		return c.Interval
	}
	next := map[string]time.Time{}
	for _, r := range rs.Rules {
		t, ok := d.next[r.Name]
		if !ok {
			continue
		}
		if old := d.rules.Rule(r.Name); old != nil && !t.IsZero() {
			t = t.Add(period(r, cfg) - period(old, d.cfg))
		}
		next[r.Name] = t
	}
	d.next = next
	d.cfg, d.rules = cfg, rs
	d.actor = newActor(cfg, d.procRoot, d.log, true)
	d.log.Info("rules loaded", "rules", len(rs.Rules), "enabled", enabledCount(rs),
		"ignore_entries", rs.Ignore.Len(), "mode", cfg.Mode, "interval", cfg.Interval.String())
	return nil
}

// every is the rule's period.
func (d *daemon) every(r *engine.Rule) time.Duration {
	if r.Every > 0 {
		return r.Every
	}
	return d.cfg.Interval
}

// wait returns how long until the next rule is due.
func (d *daemon) wait(now time.Time) time.Duration {
	soonest := time.Duration(-1)
	for _, r := range d.rules.Rules {
		if !r.Enabled {
			continue
		}
		w := d.next[r.Name].Sub(now)
		if w < 0 {
			w = 0
		}
		if soonest < 0 || w < soonest {
			soonest = w
		}
	}
	if soonest < 0 {
		return d.cfg.Interval // no enabled rule: wake now and then for nothing
	}
	return soonest
}

func (d *daemon) run(sigs <-chan os.Signal) int {
	cfg, rs, ok := d.load()
	if !ok {
		d.log.Error("not starting: fix the problems above, then start again")
		return exitUsage
	}
	if err := d.apply(cfg, rs); err != nil {
		d.log.Error("not starting", "err", err)
		return exitFailure
	}
	d.log.Info("ptrule started", "pid", os.Getpid())

	// actCtx bounds in-flight actions once a stop was asked for.
	actCtx, cancelActs := context.WithCancel(context.Background())
	defer cancelActs()
	stopping := make(chan struct{})
	reload := make(chan struct{}, 1)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				select {
				case reload <- struct{}{}:
				default:
				}
				continue
			}
			d.log.Info("stopping", "signal", sig.String())
			close(stopping)
			time.AfterFunc(stopGrace, cancelActs)
			return
		}
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stopping:
			d.flush()
			d.log.Info("ptrule stopped")
			return exitOK
		case <-reload:
			d.log.Info("reloading")
			if cfg, rs, ok := d.load(); !ok {
				d.log.Error("reload failed: keeping the running rules")
			} else if err := d.apply(cfg, rs); err != nil {
				d.log.Error("reload failed: keeping the running rules", "err", err)
			}
		case <-timer.C:
			d.tick(actCtx, stopping)
		}
		timer.Reset(d.wait(time.Now()))
	}
}

// tick runs every rule that is due: one collection serves them all.
func (d *daemon) tick(ctx context.Context, stopping <-chan struct{}) {
	start := time.Now()
	var due []string
	isDue := map[*engine.Rule]bool{}
	shortest := time.Duration(0)
	for _, r := range d.rules.Rules {
		if r.Enabled && !d.next[r.Name].After(start) {
			isDue[r] = true
			due = append(due, r.Name)
			d.next[r.Name] = start.Add(d.every(r))
			if shortest == 0 || d.every(r) < shortest {
				shortest = d.every(r)
			}
		}
	}
	if len(due) == 0 {
		return
	}
	dueFn := func(r *engine.Rule) bool { return isDue[r] }
	snap, err := d.collector.Collect(collect.CollectOptions{Sockets: needsSockets(d.rules, dueFn)})
	if err != nil {
		d.log.Error("collecting facts", "err", err)
		return
	}
	matches, errs := d.rules.Evaluate(snap, dueFn)
	for _, err := range errs {
		d.log.Error("evaluating", "err", err)
	}
	fired := 0
	for _, dec := range engine.Decide(matches, d.store, snap.Time) {
		select {
		case <-stopping:
			// Stop asked: what is left of this tick is not started, and
			// its suppressions are not recorded, so the next start
			// alerts on what this one did not.
			d.log.Info("stop: skipping the rest of the tick")
			return
		default:
		}
		o := d.actor.act(ctx, dec, false)
		if dec.Status == engine.StatusSuppressed {
			d.log.Debug("match suppressed", "rule", dec.Rule.Name, "entity", dec.Entity(), "until", dec.Until)
			continue
		}
		// The actions ran (alerts handed to their channels): now the
		// match may silence its repeats.
		dec.Commit(d.store)
		fired++
		d.log.Info("match", "rule", dec.Rule.Name, "entity", dec.Entity(), "key", dec.Key, "actions", actionSummary(o.Actions))
	}
	d.flush()
	took := time.Since(start)
	d.log.Debug("tick", "rules", strings.Join(due, ","), "processes", len(snap.Procs), "matches", len(matches), "fired", fired, "took", took.String())
	if took > shortest {
		d.log.Warn("tick overran its interval; the next one starts late rather than overlapping", "took", took.String(), "interval", shortest.String())
	}
}

func (d *daemon) flush() {
	if d.store == nil {
		return
	}
	if err := d.store.Save(time.Now()); err != nil {
		d.log.Error("saving suppression state", "err", err)
	}
}

func actionSummary(rs []actionResult) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Kind + ":" + r.Result
		if r.Error != "" {
			parts[i] += " (" + r.Error + ")"
		}
	}
	return strings.Join(parts, ", ")
}
