package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"ptrule/builtin/act"
	"ptrule/builtin/collect"
	"ptrule/builtin/proc"
	"ptrule/builtin/state"
	"ptrule/builtin/tick"
	"ptrule/engine"
	"ptrule/notify"
)

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
	if os.Getenv("GOGC") == "" {
		// A tick's garbage is its snapshot, dropped whole at the next:
		// collecting at half the live heap rather than at all of it keeps
		// the daemon of a 10,000-process host under 40 MiB (VmHWM 41 →
		// 37 MiB) for a few percent of a tick's CPU (BENCHMARKS.md).
		debug.SetGCPercent(50)
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "ptrule run:", err)
		return exitUsage
	}
	if err := act.CheckProcfs(c.proc); err != nil {
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
// its own schedule (tick.Runner), reloaded on SIGHUP.
type daemon struct {
	config   string
	sources  ruleSources
	procRoot string
	log      *slog.Logger

	cfg       *Config
	store     *state.FileStore
	hits      *state.IgnoreHits
	collector snapshotter
	runner    *tick.Runner
	// dispatcher delivers alerts: started, so alerts are queued and
	// spooled; replaced at each reload.
	dispatcher *notify.Dispatcher
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
		hits, err := state.ReadIgnoreHits(cfg.StateDir)
		if err != nil {
			d.log.Warn("ignore hit counts could not be read and start at zero", "err", err)
		}
		d.hits = hits
	}
	if d.runner == nil {
		d.runner = tick.NewRunner(d.collector)
	}
	d.startDelivery(cfg)
	d.runner.Load(rs, cfg.Interval, newActor(cfg, d.procRoot, d.log, true, d.dispatcher), d.store)
	d.hits.Keep(rs.Ignore.Entries()) // edited and removed lines start again
	d.runner.CountIgnoreHits(d.hits)
	d.cfg = cfg
	d.log.Info("rules loaded", "rules", len(rs.Rules), "enabled", enabledCount(rs),
		"ignore_entries", rs.Ignore.Len(), "mode", cfg.Mode, "interval", cfg.Interval.String())
	return nil
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
	d.runner.Serve(sigs, d.reload, d.log)
	d.stopDelivery(tick.StopGrace)
	return exitOK
}

// reloadGrace is how long alerts queued before a reload get to leave
// before the new channels take over the spool.
const reloadGrace = 5 * time.Second

// startDelivery replaces the alert Dispatcher with one for cfg, started:
// alerts go to per-channel queues and the spool under state_dir. The old
// one is stopped first, since two started Dispatchers on one spool would
// both deliver its alerts; what it could not deliver stays in the spool,
// which the new one loads. A Dispatcher that cannot start sends each alert
// at once instead.
func (d *daemon) startDelivery(cfg *Config) {
	d.stopDelivery(reloadGrace)
	d.dispatcher = newDispatcher(cfg, d.log)
	if err := d.dispatcher.Start(context.Background()); err != nil {
		d.log.Error("alert delivery without a spool: alerts are sent at once, and lost if a channel is down", "err", err)
	}
}

// stopDelivery delivers what it can within grace and leaves the rest in
// the spool.
func (d *daemon) stopDelivery(grace time.Duration) {
	if d.dispatcher == nil {
		return
	}
	if left := d.dispatcher.Stop(grace); left > 0 {
		d.log.Warn("alerts left in the spool for the next start", "count", left)
	}
}

// reload reads config and rules again and makes them the running ones; on
// any problem the running rules stay.
func (d *daemon) reload() {
	if cfg, rs, ok := d.load(); !ok {
		d.log.Error("reload failed: keeping the running rules")
	} else if err := d.apply(cfg, rs); err != nil {
		d.log.Error("reload failed: keeping the running rules", "err", err)
	}
}
